// The package version, recorded in every output's provenance.
export const VERSION = "0.1.0";
