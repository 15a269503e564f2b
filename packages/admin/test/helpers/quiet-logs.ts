// Imported first by every admin test file: the logger reads its level when first loaded, and
// the expected warnings (store unavailable ...) would clutter the output.
// Run with PORTICO_LOG_LEVEL=info to see them.
process.env.PORTICO_LOG_LEVEL ??= 'silent';
export {};
