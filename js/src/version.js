/** Must equal the Python package version: the shared-connection registry key includes it. */
export const VERSION = "0.1.0";
