export * from './common';
export * from './consumer';
export * from './credential';
export * from './plugins';
export * from './route';
export * from './secret';
export * from './upstream';
export * from './validate';
