// The public entry of kafscale-mcp: what a tool plugin imports (`from 'kafscale-mcp'`).
// Importing it also brings the Fastify declarations a plugin needs (app.tools, request.principal).
export { defineTool, observedAt, READ_ONLY } from './core/tool.ts'
export type { BrokerControlReader, BrokerMetricsReader, Caller, DataSources, MetadataReader, OperatorMetricsReader, ToolAnnotations, ToolContext, ToolDefinition, ToolLogger } from './core/tool.ts'
export { toolError } from './core/tool-error.ts'
export { encodeCursor, paginate, pagedOutput, withPrefix } from './core/paging.ts'
export type { Page, PageRequest } from './core/paging.ts'
export { failureReply } from './core/http-errors.ts'
export type { Failure, FailureReply } from './core/http-errors.ts'
export type { RegisteredTool, ToolCallOptions, ToolFailure, ToolOutcome, ToolRegistry } from './core/registry.ts'
export { toolPlugin } from './plugins/tool-plugin.ts'
export { requestCaller } from './plugins/auth.ts'
export type { Principal } from './lib/auth/principal.ts'
