// plugins/rest.ts still imports it from here; the pager lives in core/paging.ts.
export { serializedJson } from '../core/paging.ts'
