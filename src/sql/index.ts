export { SqlEngine, type SqlEngineOptions, type SqlResult } from './engine.ts';
export { encodeResult } from './result.ts';
