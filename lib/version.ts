import { readFileSync } from 'node:fs'

/** The source revision an image was built from (the Dockerfile bakes it in). */
export const REVISION: string = process.env.KAFSCALE_MCP_REVISION ?? 'unknown'

/** package.json's version; an image build may pin another through KAFSCALE_MCP_VERSION. */
export const VERSION: string = process.env.KAFSCALE_MCP_VERSION ??
  (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
