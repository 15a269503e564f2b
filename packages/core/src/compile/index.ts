export * from './config-regex';
