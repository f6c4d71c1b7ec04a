export { parseSigma, CORRELATION_TYPES, type SigmaDocument, type SigmaRule, type SigmaCorrelation, type Bounds, type CorrelationType } from './document.js'
export { SigmaError } from './problem.js'
export { MODIFIERS } from './search.js'
