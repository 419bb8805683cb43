#!/usr/bin/env node
// The `fenix` bin: registers tsx's loader, then runs the TypeScript CLI (cli/fenix.ts).
import { register } from 'tsx/esm/api';

register();
await import('./fenix.ts');
