export { SqlEngine, type SqlEngineOptions, type SqlInput, type SqlResult } from './engine.ts';
export { encodeResult } from './result.ts';
export { textAt } from './text.ts';
