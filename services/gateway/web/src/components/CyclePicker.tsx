import { cycleLabel, selectCycle, useCycles, useSelectedCycle } from "../cycles";

/** The billing period a view shows: the current cycle, or a closed one (read-only). */
export function CyclePicker() {
  const cycles = useCycles();
  const selected = useSelectedCycle();
  const list = cycles.data;
  // Nothing to choose until a cycle has closed; a picker with one entry would only puzzle.
  if (!list || (list.closed.length === 0 && !selected)) return null;
  return (
    <label className="inline-field cycle-picker">
      <span>Billing period</span>
      <select
        aria-label="Billing period"
        value={selected ?? ""}
        onChange={(event) => selectCycle(event.target.value || null)}
      >
        <option value="">Current: {cycleLabel(list.current)}</option>
        {list.closed.map((cycle) => (
          <option key={cycle.start} value={cycle.start}>
            {cycleLabel(cycle)} (closed)
          </option>
        ))}
      </select>
    </label>
  );
}
