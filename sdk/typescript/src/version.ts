/** The package version, kept equal to package.json's (a unit test checks). */
export const VERSION = "0.1.0";
