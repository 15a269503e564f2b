// Imported first by store tests: the logger reads its level when first loaded, and expected
// warnings (stale lock takeover, torn log record, watch resets) would clutter test output.
// Set PORTICO_LOG_LEVEL=info to see them.
process.env.PORTICO_LOG_LEVEL ??= 'silent';
export {};
