export * from './config';
export * from './crypto';
export * from './errors';
export * from './keys';
export * from './logger';
export * from './schemas';
export * from './store';
export * from './compile';
