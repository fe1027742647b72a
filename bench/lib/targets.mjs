// Target functions that benchmark children run. A child imports this module to find its target,
// so it must stay tiny and import nothing: what it costs to load is part of every measured start.
export function noop() {}
