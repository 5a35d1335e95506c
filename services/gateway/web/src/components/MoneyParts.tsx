import { Fragment } from "react";
import { moneyParts, type CurrencyAmount } from "../format";

/**
 * One figure per currency, " · " between them. Each figure keeps its sign and currency on
 * one line: a narrow tile wraps between figures, never inside "-€21,234.50".
 */
export function MoneyParts({ rows }: { rows: CurrencyAmount[] }) {
  return (
    <>
      {moneyParts(rows).map((part, index) => (
        <Fragment key={part}>
          {index > 0 && " · "}
          <span className="money-part">{part}</span>
        </Fragment>
      ))}
    </>
  );
}
