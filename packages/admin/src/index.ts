export { createAdminApp } from './app';
export type { AdminAppOptions } from './app';
export { startAdminServer } from './server';
export type { AdminServer, AdminServerOptions } from './server';
export { checkAdminListenSafety, keylessAllowed, resolveAdminKeys } from './admin-keys';
export type { AdminKey, AdminRole, ResolvedAdminKeys } from './admin-keys';
export { AddressSet, isLoopback } from './cidr';
export { MAX_BODY_BYTES } from './body';
