// A smoke program for the TypeScript client generated from taskd's
// openapi.yaml: it signs up, creates a project and a task with tags, lists
// with a filter and pages with the cursor, through typed calls only.
// Usage: node dist/smoke.js http://127.0.0.1:PORT
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const base = process.argv[2];
if (!base) throw new Error("usage: smoke.js BASE_URL");

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error("smoke: " + msg);
}

const anon = createClient<paths>({ baseUrl: base });
const signUp = await anon.POST("/v1/users", { body: { name: `ts-${Date.now()}` } });
check(signUp.response.status === 201 && signUp.data, `sign-up answered ${signUp.response.status}`);
const token = signUp.data.token;

const api = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${token}` } });
const calls: string[] = ["POST /v1/users (sign-up)"];

const me = await api.GET("/v1/me");
check(me.data?.name === signUp.data.user.name, "GET /v1/me names the new user");
calls.push("GET /v1/me");

const project = await api.POST("/v1/projects", { body: { name: "TypeScript", color: "#3178C6" } });
check(project.response.status === 201 && project.data, `create project answered ${project.response.status}`);
check(project.data.color === "#3178c6", "colors come back in lower case");
calls.push("POST /v1/projects");

const ids: number[] = [];
for (let i = 0; i < 5; i++) {
  const task = await api.POST("/v1/tasks", {
    body: { project_id: project.data.id, title: `ts task ${i}`, tags: ["#TypeScript SDK", i % 2 ? "odd" : "even"], priority: "high" },
  });
  check(task.response.status === 201 && task.data, `create task answered ${task.response.status}`);
  check(task.data.tags.includes("typescript-sdk"), "tag names are normalized");
  ids.push(task.data.id);
}
calls.push("POST /v1/tasks (with tags)");

const evens = await api.GET("/v1/tasks", {
  params: { query: { project_id: project.data.id, tag: ["typescript-sdk", "even"] } },
});
check(evens.data?.items.length === 3, `the tag filter matched ${evens.data?.items.length}`);
calls.push("GET /v1/tasks?tag=…&tag=… (filter)");

type TaskPage = paths["/v1/tasks"]["get"]["responses"][200]["content"]["application/json"];
const seen: number[] = [];
let cursor: string | undefined = undefined;
for (;;) {
  const { data }: { data?: TaskPage } = await api.GET("/v1/tasks", {
    params: { query: { project_id: project.data.id, limit: 2, cursor } },
  });
  check(data, "list answered");
  seen.push(...data.items.map((t) => t.id));
  if (data.next_cursor === null) break;
  cursor = data.next_cursor;
}
check(JSON.stringify(seen) === JSON.stringify(ids), `paging saw ${seen} instead of ${ids}`);
calls.push("GET /v1/tasks?limit=2&cursor=… (paging)");

const patched = await api.PATCH("/v1/tasks/{id}", {
  params: { path: { id: ids[0] } },
  body: { tags: null, status: "done" },
});
check(patched.data?.tags.length === 0 && patched.data.completed_at !== null, "merge patch cleared tags and set completed_at");
calls.push("PATCH /v1/tasks/{id} (merge patch)");

const missing = await api.GET("/v1/tasks/{id}", { params: { path: { id: 999999 } } });
check(missing.response.status === 404 && missing.error?.status === 404, "a missing task is a typed 404 problem");
calls.push("GET /v1/tasks/{id} (404 problem)");

console.log(`ts smoke: ${calls.length} passed, 0 failed`);
for (const c of calls) console.log("  ok " + c);
