import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The gateway serves the built files from its package (static/ is git-ignored and built
// by `./task up` and the gateway image). In development, `npm run dev` proxies the API.
export default defineConfig({
  base: "/",
  plugins: [react()],
  build: {
    outDir: "../src/trueup/gateway/static",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:8000", changeOrigin: false },
    },
  },
});
