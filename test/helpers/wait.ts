/** Polls until the predicate holds or the bound passes: for state that settles, never a timing assertion. */
export async function eventually (predicate: () => Promise<boolean>, ms = 30_000, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await predicate()) return true
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  return false
}
