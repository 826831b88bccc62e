// Swagger UI against this server's own spec. validatorUrl is off because
// the default one is a remote service: this page requests nothing outside
// the server that serves it. persistAuthorization is off because it keeps
// the bearer token in localStorage, where it outlives the tab and any
// script on this origin can read it: Authorize asks again after a reload.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  persistAuthorization: false,
  tryItOutEnabled: true,
  deepLinking: true,
});
