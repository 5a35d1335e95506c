import type { Role } from "../../types";

export const ROLES: Role[] = ["viewer", "billing", "admin"];
