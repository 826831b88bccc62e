// A smoke program for the TypeScript client generated from taskd's
// openapi.yaml: it signs up, creates a project and a task with tags, lists
// with a filter and pages with the cursor, pages the change feed and
// follows its live stream (Server-Sent Events over fetch's streaming
// body), through typed calls only.
// Usage: node dist/smoke.js http://127.0.0.1:PORT
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

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

// create-tag: 201 for a new name, the declared (so typed) 200 for one that exists.
const freshTag = await api.POST("/v1/tags", { body: { name: "Fresh TS Tag" } });
check(freshTag.response.status === 201 && freshTag.data?.name === "fresh-ts-tag", `new tag answered ${freshTag.response.status}`);
const sameTag = await api.POST("/v1/tags", { body: { name: "#fresh ts tag" } });
check(sameTag.response.status === 200 && sameTag.data?.id === freshTag.data.id, `existing tag answered ${sameTag.response.status}`);
calls.push("POST /v1/tags (201, then 200 for the same name)");

// A conditional GET with the ETag held: 304 and no body.
const held = await api.GET("/v1/tasks/{id}", { params: { path: { id: ids[0] } } });
const etag = held.response.headers.get("ETag");
check(etag, "a task carries an ETag");
const notModified = await api.GET("/v1/tasks/{id}", { params: { path: { id: ids[0] }, header: { "If-None-Match": etag } } });
check(notModified.response.status === 304, `If-None-Match answered ${notModified.response.status}`);
calls.push("GET /v1/tasks/{id} with If-None-Match (304)");

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

// The change feed, paged two at a time by next_cursor until has_more is
// false: the project, its tags and every task created above are in it,
// each once, at its latest state.
type ChangePage = paths["/v1/changes"]["get"]["responses"][200]["content"]["application/json"];
type Change = ChangePage["items"][number];
type Task = components["schemas"]["Task"];
const isTask = (c: Change): c is Change & { type: "task"; data: Task } => c.type === "task" && c.data !== null;

const latest = new Map<string, Change>();
let since: string | undefined = undefined;
let pages = 0;
for (;;) {
  const { data, response }: { data?: ChangePage; response: Response } = await api.GET("/v1/changes", {
    params: { query: { since, limit: 2 } },
  });
  check(data, `GET /v1/changes answered ${response.status}`);
  check(data.items.length <= 2, `a page of limit 2 had ${data.items.length} items`);
  for (const c of data.items) latest.set(`${c.type} ${c.id}`, c);
  check(data.next_cursor, "next_cursor is never null");
  since = data.next_cursor;
  pages++;
  check(pages < 100, "the feed keeps saying has_more");
  if (!data.has_more) break;
}
check(pages > 1, `${latest.size} changes came in ${pages} page(s) of 2`);
check(latest.get(`project ${project.data.id}`)?.op === "upsert", "the feed has the project");
for (const name of ["typescript-sdk", "odd", "even"]) {
  check([...latest.values()].some((c) => c.type === "tag" && c.data !== null && "name" in c.data && c.data.name === name), `the feed has the tag ${name}`);
}
for (const [i, id] of ids.entries()) {
  const c = latest.get(`task ${id}`);
  check(c && isTask(c) && c.op === "upsert" && c.data.title === `ts task ${i}`, `the feed has task ${id} as created`);
}
const first = latest.get(`task ${ids[0]}`);
check(first && isTask(first) && first.data.status === "done" && first.data.tags.length === 0, "the feed has the patched task at its latest state");
calls.push(`GET /v1/changes?limit=2&since=… (the feed in ${pages} pages)`);

// The live stream: Server-Sent Events over fetch's streaming body.
type SseItem = { comment: string } | { id: string; event: string; change: Change };

class EventStream {
  private reader: ReadableStreamDefaultReader<Uint8Array>;
  private decoder = new TextDecoder();
  private buffer = "";

  constructor(body: ReadableStream<Uint8Array>, private abort: AbortController) {
    this.reader = body.getReader();
  }

  // next is the next comment or event, within ms.
  async next(ms = 5000): Promise<SseItem> {
    const deadline = Date.now() + ms;
    for (;;) {
      const end = this.buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) return { comment: line.slice(1).trim() };
          const colon = line.indexOf(":");
          if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ""));
        }
        const data = fields.get("data");
        check(data !== undefined, `an event without data: ${block}`);
        return { id: fields.get("id") ?? "", event: fields.get("event") ?? "message", change: JSON.parse(data) as Change };
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`smoke: nothing on the stream within ${ms} ms`)), Math.max(0, deadline - Date.now()));
      });
      try {
        const { value, done } = await Promise.race([this.reader.read(), timeout]);
        check(!done, "the stream ended");
        this.buffer += this.decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      } finally {
        clearTimeout(timer);
      }
    }
  }

  // change is the next event, skipping comments.
  async change(): Promise<{ id: string; event: string; change: Change }> {
    for (;;) {
      const item = await this.next();
      if (!("comment" in item)) return item;
    }
  }

  // opened waits for the server's opening comment: from then on the
  // stream is subscribed, and a change made afterwards wakes it at once.
  async opened(): Promise<void> {
    const item = await this.next();
    check("comment" in item, "a stream opens with a comment line");
  }

  close(): void {
    this.abort.abort();
    this.reader.cancel().catch(() => {});
  }
}

async function openStream(query: { since?: string }, lastEventId?: string): Promise<EventStream> {
  const abort = new AbortController();
  const { data, response } = await api.GET("/v1/changes/stream", {
    params: { query, header: lastEventId ? { "Last-Event-ID": lastEventId } : undefined },
    headers: { Accept: "text/event-stream" },
    parseAs: "stream",
    signal: abort.signal,
  });
  check(response.status === 200 && data, `GET /v1/changes/stream answered ${response.status}`);
  check(response.headers.get("content-type") === "text/event-stream", `the stream is ${response.headers.get("content-type")}`);
  const stream = new EventStream(data, abort);
  await stream.opened();
  return stream;
}

const now = await api.GET("/v1/changes/cursor");
check(now.data?.cursor, "GET /v1/changes/cursor answers a cursor");
calls.push("GET /v1/changes/cursor");

const live = await openStream({ since: now.data.cursor });
const made = await api.POST("/v1/tasks", { body: { project_id: project.data.id, title: "live" } });
check(made.response.status === 201 && made.data, `create task answered ${made.response.status}`);
const created = await live.change();
check(created.event === "change" && created.id !== "", "events are `event: change` with an id");
check(isTask(created.change) && created.change.id === made.data.id && created.change.op === "upsert" && created.change.data.title === "live",
  `the stream sent the new task: ${JSON.stringify(created.change)}`);

await api.PATCH("/v1/tasks/{id}", { params: { path: { id: made.data.id } }, body: { title: "live, renamed" } });
const renamed = await live.change();
check(isTask(renamed.change) && renamed.change.id === made.data.id && renamed.change.data.title === "live, renamed",
  `the stream sent the patch: ${JSON.stringify(renamed.change)}`);

const deleted = await api.DELETE("/v1/tasks/{id}", { params: { path: { id: made.data.id } } });
check(deleted.response.status === 204, `delete task answered ${deleted.response.status}`);
const gone = await live.change();
check(gone.change.type === "task" && gone.change.id === made.data.id && gone.change.op === "delete" && gone.change.data === null,
  `the stream sent the delete: ${JSON.stringify(gone.change)}`);
live.close();
calls.push("GET /v1/changes/stream (SSE: create, patch, delete)");

// Resuming with Last-Event-ID, as EventSource does: what happened while
// away comes first, with no repeats.
const away = await api.POST("/v1/tasks", { body: { project_id: project.data.id, title: "while away" } });
check(away.response.status === 201 && away.data, `create task answered ${away.response.status}`);
const resumed = await openStream({}, gone.id);
const missed = await resumed.change();
check(isTask(missed.change) && missed.change.id === away.data.id && missed.change.data.title === "while away",
  `the resumed stream starts with the change made while away: ${JSON.stringify(missed.change)}`);
resumed.close();
calls.push("GET /v1/changes/stream with Last-Event-ID (resume)");

console.log(`ts smoke: ${calls.length} passed, 0 failed`);
for (const c of calls) console.log("  ok " + c);
