// Imported first by gateway tests: the logger reads its level when first loaded, and the
// expected warnings (invalid items, refused upstreams, watch resets) would clutter the output.
// Set PORTICO_LOG_LEVEL=info to see them.
process.env.PORTICO_LOG_LEVEL ??= 'silent';
export {};
