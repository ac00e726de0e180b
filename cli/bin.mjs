#!/usr/bin/env node
// The `meshwork` executable: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api'

register()
await import('./meshwork.ts')
