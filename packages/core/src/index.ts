export * from './config';
export * from './errors';
export * from './keys';
export * from './logger';
export * from './schemas';
export * from './store';
