/**
 * Compile functions shared by the Admin API (validation before a write) and the data plane
 * (building routes, plugins and upstreams), so that what one accepts the other applies.
 */
export * from './config-regex';
export * from './node-address';
export * from './vars-expr';
