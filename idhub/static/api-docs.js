// Starts Swagger UI on the hub's own OpenAPI document (a file, so the page's CSP can forbid inline scripts).
window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
