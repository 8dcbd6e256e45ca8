/** Defaults the plugin's options, the stores and the command line share, defined once. */

/** Most entries (variants) an in-process tier keeps. */
export const DEFAULT_MAX_ENTRIES = 10000
/** Most bytes an in-process tier keeps. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024
/** Prefix of every key the plugin writes, unless the `namespace` option says otherwise. */
export const DEFAULT_NAMESPACE = 'fancy-cache'
