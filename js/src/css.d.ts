// esbuild bundles stylesheets as text (`--loader:.css=text`, package.json).
declare module "*.css" {
  const text: string;
  export default text;
}
