// Swagger UI against this server's own spec. validatorUrl is off because
// the default one is a remote service: this page requests nothing outside
// the server that serves it.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  persistAuthorization: true,
  tryItOutEnabled: true,
  deepLinking: true,
});
