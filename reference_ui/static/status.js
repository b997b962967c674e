// The status filter of the invocations list, mapped onto the admin API.
// The API knows the lifecycle statuses (scheduled, pending, running, suspended, backing-off,
// completed); "succeeded", "failed", "cancelled" and "killed" are completed invocations told
// apart by their `outcome`, so those filters ask for `completed` and narrow on the client.

export const FILTERS = [
  { id: "all", label: "All" },
  { id: "running", label: "Running", api: "running" },
  { id: "suspended", label: "Suspended", api: "suspended" },
  { id: "backing-off", label: "Backing off", api: "backing-off" },
  { id: "scheduled", label: "Scheduled", api: "scheduled" },
  { id: "pending", label: "Pending (inbox)", api: "pending" },
  { id: "completed", label: "Completed (any outcome)", api: "completed" },
  { id: "succeeded", label: "Succeeded", api: "completed", outcomes: ["success"] },
  { id: "failed", label: "Failed", api: "completed", outcomes: ["failure"] },
  { id: "cancelled", label: "Cancelled", api: "completed", outcomes: ["cancelled"] },
  { id: "killed", label: "Killed", api: "completed", outcomes: ["killed"] },
];

const OUTCOME_LABEL = { success: "succeeded", failure: "failed", cancelled: "cancelled", killed: "killed" };

export function findFilter(id) {
  return FILTERS.find((f) => f.id === id) || FILTERS[0];
}

// The one word shown in a status badge.
export function displayStatus(inv) {
  if (inv.status === "completed") return OUTCOME_LABEL[inv.outcome] || "completed";
  return inv.status;
}

export function matchesFilter(inv, filter) {
  if (filter.api && inv.status !== filter.api) return false;
  return !filter.outcomes || filter.outcomes.includes(inv.outcome);
}

export function matchesSearch(inv, query) {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  return [inv.id, inv.service, inv.key, inv.handler, inv.target, inv.idempotency_key]
    .filter((v) => typeof v === "string")
    .some((v) => v.toLowerCase().includes(q));
}

export function isFinished(inv) {
  return inv.status === "completed";
}
