export { SqlEngine, type SqlResult } from './engine.ts';
export { encodeResult } from './result.ts';
