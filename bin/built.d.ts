export declare const BUILD_FORMAT: number;
export declare function sourceStamp(root: string): string;
export declare function builtEntry(root: string): string | undefined;
