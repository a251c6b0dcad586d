export declare function sourceStamp(root: string): string;
export declare function builtEntry(root: string): string | undefined;
