import { type RefObject, useLayoutEffect } from "react";

/**
 * Lets a scrolling element reach down to the bottom of the window (less the toasts, see
 * `--toast-space`): sets `--grid-top` to where the element starts on the page. That depends on
 * what sits above it (a header that wraps, a bar that grows, an error banner), so it is
 * measured whenever those change rather than assumed.
 */
export function useFillWindow(ref: RefObject<HTMLElement | null>, shown: boolean): void {
  useLayoutEffect(() => {
    const element = ref.current;
    const parent = element?.parentElement;
    if (!element || !parent) return;
    const measure = () => {
      const top = element.getBoundingClientRect().top + window.scrollY;
      element.style.setProperty("--grid-top", `${Math.round(top)}px`);
    };
    measure();
    window.addEventListener("resize", measure);
    if (typeof ResizeObserver === "undefined") return () => window.removeEventListener("resize", measure);
    const observer = new ResizeObserver(measure);
    for (const sibling of parent.children) if (sibling !== element) observer.observe(sibling);
    observer.observe(parent);
    return () => {
      observer.disconnect();
      window.removeEventListener("resize", measure);
    };
  }, [ref, shown]);
}
