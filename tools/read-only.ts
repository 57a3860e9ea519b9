import type { ToolAnnotations } from '../lib/tool.ts'

/** Annotations of a tool that only reads KafScale's own state. */
export const READ_ONLY: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }
