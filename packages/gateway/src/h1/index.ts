export { ClientError } from './errors';
export type { UpstreamHandler } from './handler';
export { nativeParserAvailable } from './native-parser';
export { H1Pool, type H1PoolOptions, type H1TlsOptions } from './pool';
export type { UpstreamRequest } from './request-head';
