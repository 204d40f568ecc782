#!/usr/bin/env node
// The installed `spindle` command. It is a committed file (not dist/bin.js itself) so that npm
// links it on a fresh install, before the build has produced dist/; it runs the built CLI.
import '../dist/bin.js';
