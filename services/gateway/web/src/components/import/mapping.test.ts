import { describe, expect, it } from "vitest";
import type { ColumnMapping, Detection, ImportInspection, RowFilter } from "../../types";
import { EMPTY_MAPPING, cleanMapping, columnRoles, mappingProblems, parseNumber, passes, previewUsage } from "./mapping";

const DETECTION: Detection = {
  file_name: "usage.csv",
  encoding: "utf-8",
  bom: false,
  delimiter: ",",
  quote_char: '"',
  line_terminator: "\n",
  header_row: 1,
  columns: [],
  decimal_separator: ".",
  thousands_separator: ",",
};

/** An inspected upload whose preview holds `rows` under `columns`. */
function inspection(columns: string[], rows: string[][], detection: Partial<Detection> = {}): ImportInspection {
  return {
    import_id: "imp-1",
    file_name: "usage.csv",
    vendor: "pax8",
    status: "inspected",
    progress_percent: 0,
    detection: { ...DETECTION, columns, ...detection },
    preview: {
      columns: columns.map((name, position) => ({ name, position, inferred_type: "text", examples: [], distinct_values: 0, empty_cells: 0 })),
      rows,
    },
    suggestion: null,
    profile: null,
    counts: null,
    error_count: 0,
    errors: [],
    error: null,
    usage: [],
    usage_total: 0,
  };
}

const mapping = (patch: Partial<ColumnMapping>): ColumnMapping => ({ ...EMPTY_MAPPING, ...patch });

describe("mappingProblems", () => {
  it("names everything an empty mapping lacks", () => {
    expect(mappingProblems(EMPTY_MAPPING)).toEqual([
      "Choose the account column.",
      "Choose the SKU column, or name the single product this file counts.",
      "Choose the quantity column.",
    ]);
  });

  it("is satisfied by an account, a SKU and a quantity column", () => {
    expect(mappingProblems(mapping({ account_column: "Customer", sku_column: "Product", quantity_column: "Qty" }))).toEqual([]);
  });

  it("accepts a single product name instead of a SKU column", () => {
    expect(mappingProblems(mapping({ account_column: "Customer", sku_constant: "EDR agent", quantity_mode: "row_count" }))).toEqual([]);
  });

  it("asks for the column to count for distinct counts, and for none when counting rows", () => {
    const base = { account_column: "Customer", sku_column: "Product" };
    expect(mappingProblems(mapping({ ...base, quantity_mode: "distinct_count" }))).toEqual([
      "Choose the column whose distinct values are counted.",
    ]);
    expect(mappingProblems(mapping({ ...base, quantity_mode: "row_count" }))).toEqual([]);
    expect(mappingProblems(mapping({ ...base, quantity_mode: "sum_per_sku" }))).toEqual(["Choose the quantity column."]);
  });
});

describe("cleanMapping", () => {
  it("drops the columns the quantity mode does not use", () => {
    const m = mapping({
      account_column: "Customer",
      sku_column: "Product",
      sku_constant: "left over",
      quantity_mode: "row_count",
      quantity_column: "Qty",
      distinct_column: "User",
    });
    expect(cleanMapping(m)).toEqual({ ...m, sku_constant: null, quantity_column: null, distinct_column: null });
  });

  it("keeps the distinct column for distinct counts and the quantity column for sums", () => {
    const distinct = mapping({ account_column: "A", quantity_mode: "distinct_count", quantity_column: "Qty", distinct_column: "User" });
    expect(cleanMapping(distinct)).toMatchObject({ quantity_column: null, distinct_column: "User" });
    const sum = mapping({ account_column: "A", quantity_mode: "sum_per_sku", quantity_column: "Qty", distinct_column: "User" });
    expect(cleanMapping(sum)).toMatchObject({ quantity_column: "Qty", distinct_column: null });
  });

  it("keeps the single product name when there is no SKU column", () => {
    expect(cleanMapping(mapping({ account_column: "A", sku_constant: "EDR agent" })).sku_constant).toBe("EDR agent");
  });

  it("sends only filters that name a column, and leaves the draft alone", () => {
    const filters: RowFilter[] = [
      { column: "", operator: "equals", values: [""] },
      { column: "Status", operator: "equals", values: ["active"] },
    ];
    const m = mapping({ account_column: "A", filters });
    expect(cleanMapping(m).filters).toEqual([{ column: "Status", operator: "equals", values: ["active"] }]);
    expect(m.filters).toHaveLength(2);
  });
});

describe("parseNumber", () => {
  it("reads the file's decimal and thousands separators", () => {
    expect(parseNumber("1,234.5", DETECTION)).toBe(1234.5);
    expect(parseNumber(" 42 ", DETECTION)).toBe(42);
    const european = { ...DETECTION, decimal_separator: ",", thousands_separator: "." };
    expect(parseNumber("1.234,5", european)).toBe(1234.5);
    expect(parseNumber("12,75", european)).toBe(12.75);
    expect(parseNumber("1 200", { ...DETECTION, thousands_separator: " " })).toBe(1200);
  });

  it("gives null for a blank cell or one that is not a number", () => {
    expect(parseNumber("", DETECTION)).toBeNull();
    expect(parseNumber("   ", DETECTION)).toBeNull();
    expect(parseNumber("ten", DETECTION)).toBeNull();
    // With no thousands separator, a comma is not skipped over.
    expect(parseNumber("1,234", { ...DETECTION, thousands_separator: "" })).toBeNull();
  });
});

describe("passes", () => {
  const f = (operator: RowFilter["operator"], ...values: string[]): RowFilter => ({ column: "Status", operator, values });

  it("compares without case and surrounding spaces", () => {
    expect(passes(f("equals", "Active"), " active ")).toBe(true);
    expect(passes(f("equals", "active"), "suspended")).toBe(false);
    expect(passes(f("not_equals", "active"), "ACTIVE")).toBe(false);
    expect(passes(f("not_equals", "active"), "trial")).toBe(true);
  });

  it("checks membership, substrings and emptiness", () => {
    expect(passes(f("in", "active", " Trial"), "trial")).toBe(true);
    expect(passes(f("in", "active", "trial"), "suspended")).toBe(false);
    expect(passes(f("not_in", "active", "trial"), "suspended")).toBe(true);
    expect(passes(f("not_in", "active", "trial"), "Active")).toBe(false);
    expect(passes(f("contains", "365"), "Microsoft 365 E3")).toBe(true);
    expect(passes(f("contains", "edr"), "Microsoft 365 E3")).toBe(false);
    expect(passes(f("not_empty"), "  ")).toBe(false);
    expect(passes(f("not_empty"), "x")).toBe(true);
  });
});

describe("previewUsage", () => {
  const columns = ["Customer", "Customer Id", "Product", "Qty", "User", "Status"];
  const rows = [
    ["Acme", "A-1", "M365 E3", "10", "ann", "active"],
    ["Acme", "A-1", "M365 E3", "2.5", "bob", "active"],
    ["Beta", "B-2", "M365 E3", "1,200", "cy", "suspended"],
    ["Beta", "B-2", "EDR", "3", "cy", "active"],
    ["", "", "", "15.5", "", ""],
  ];
  const file = inspection(columns, rows);

  it("sums invoice lines per account and SKU, and counts the rows without an account", () => {
    const result = previewUsage(file, mapping({ account_column: "Customer", sku_column: "Product", quantity_mode: "sum_per_sku", quantity_column: "Qty" }));
    expect(result.usage).toEqual([
      { account: "Acme", sku: "M365 E3", quantity: 12.5, rows: 2 },
      { account: "Beta", sku: "M365 E3", quantity: 1200, rows: 1 },
      { account: "Beta", sku: "EDR", quantity: 3, rows: 1 },
    ]);
    expect(result.issues).toEqual([]);
    expect(result.withoutAccount).toBe(1);
  });

  it("warns when a column's value appears on several rows of one account and SKU", () => {
    const result = previewUsage(file, mapping({ account_column: "Customer", sku_column: "Product", quantity_column: "Qty" }));
    expect(result.usage[0]).toEqual({ account: "Acme", sku: "M365 E3", quantity: 12.5, rows: 2 });
    expect(result.issues).toEqual(['Acme / M365 E3 appears on 2 rows: use "Sum per SKU".']);
  });

  it("counts rows, or distinct values, per account and SKU", () => {
    const byRows = previewUsage(file, mapping({ account_column: "Customer", sku_constant: "Seat", quantity_mode: "row_count" }));
    expect(byRows.usage).toEqual([
      { account: "Acme", sku: "Seat", quantity: 2, rows: 2 },
      { account: "Beta", sku: "Seat", quantity: 2, rows: 2 },
    ]);
    const distinct = previewUsage(
      file,
      mapping({ account_column: "Customer", sku_constant: "Seat", quantity_mode: "distinct_count", distinct_column: "User" }),
    );
    expect(distinct.usage.map((u) => [u.account, u.quantity])).toEqual([
      ["Acme", 2],
      ["Beta", 1],
    ]);
  });

  it("groups by the account id when there is one, and shows the account's name", () => {
    const renamed = inspection(columns, [
      ["Acme Ltd", "A-1", "EDR", "1", "", ""],
      ["Acme Limited", "A-1", "EDR", "2", "", ""],
    ]);
    const result = previewUsage(
      renamed,
      mapping({ account_column: "Customer", account_id_column: "Customer Id", sku_column: "Product", quantity_mode: "sum_per_sku", quantity_column: "Qty" }),
    );
    expect(result.usage).toEqual([{ account: "Acme Ltd", sku: "EDR", quantity: 3, rows: 2 }]);
  });

  it("applies the row filters before counting", () => {
    const result = previewUsage(
      file,
      mapping({
        account_column: "Customer",
        sku_column: "Product",
        quantity_mode: "sum_per_sku",
        quantity_column: "Qty",
        filters: [
          { column: "Status", operator: "equals", values: ["active"] },
          { column: "", operator: "equals", values: ["ignored: no column"] },
        ],
      }),
    );
    expect(result.usage.map((u) => [u.account, u.sku, u.quantity])).toEqual([
      ["Acme", "M365 E3", 12.5],
      ["Beta", "EDR", 3],
    ]);
    // The blank totals line is filtered out before it could count as a row without an account.
    expect(result.withoutAccount).toBe(0);
  });

  it("names preview rows whose quantity is not one, and leaves them out of the sum", () => {
    const bad = inspection(columns, [
      ["Acme", "", "EDR", "n/a", "", ""],
      ["Acme", "", "EDR", "-2", "", ""],
      ["Acme", "", "EDR", "4", "", ""],
    ]);
    const result = previewUsage(bad, mapping({ account_column: "Customer", sku_column: "Product", quantity_mode: "sum_per_sku", quantity_column: "Qty" }));
    expect(result.usage).toEqual([{ account: "Acme", sku: "EDR", quantity: 4, rows: 3 }]);
    expect(result.issues).toEqual(['Preview row 1: "n/a" is not a quantity.', 'Preview row 2: "-2" is not a quantity.']);
  });

  it("ignores a totals line whose account cell holds only spaces", () => {
    const totals = inspection(columns, [
      ["Acme", "", "EDR", "4", "", ""],
      ["  ", "", "EDR", "4", "", ""],
    ]);
    const result = previewUsage(totals, mapping({ account_column: "Customer", sku_column: "Product", quantity_mode: "sum_per_sku", quantity_column: "Qty" }));
    expect(result.usage).toEqual([{ account: "Acme", sku: "EDR", quantity: 4, rows: 1 }]);
    expect(result.withoutAccount).toBe(1);
  });

  it("reads quantities with the file's separators", () => {
    const european = inspection(["Customer", "Product", "Qty"], [["Acme", "EDR", "1.234,5"]], { decimal_separator: ",", thousands_separator: "." });
    const result = previewUsage(european, mapping({ account_column: "Customer", sku_column: "Product", quantity_column: "Qty" }));
    expect(result.usage).toEqual([{ account: "Acme", sku: "EDR", quantity: 1234.5, rows: 1 }]);
  });
});

describe("columnRoles", () => {
  it("labels each mapped column with its role for the preview's header", () => {
    expect(
      columnRoles(
        mapping({ account_column: "Customer", account_id_column: "Customer Id", sku_column: "Product", quantity_column: "Qty", price_column: "Price" }),
      ),
    ).toEqual({ Customer: "account", "Customer Id": "account id", Product: "SKU", Qty: "quantity", Price: "price" });
    expect(columnRoles(EMPTY_MAPPING)).toEqual({});
  });
});
