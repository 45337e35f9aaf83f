// Runs in the browser: the official OpenAI JS SDK, bundled by esbuild, streams a chat
// completion and a response through the hub named in the page's query string, then shows
// what it received in #result (or the failure in #error) and marks the body done.
//
// Query: base (the room's base URL, on another origin than this page), key (the room
// password, sent as the API key), model.
import OpenAI from "openai";

const params = new URLSearchParams(location.search);
const model = params.get("model") ?? "*";
const client = new OpenAI({
  baseURL: params.get("base"),
  apiKey: params.get("key") ?? "unused",
  dangerouslyAllowBrowser: true,
  maxRetries: 0,
  timeout: 20_000,
});

async function chat() {
  const { data: stream, response } = await client.chat.completions
    .create({
      model,
      messages: [{ role: "user", content: "Hello from a browser" }],
      stream: true,
    })
    .withResponse();
  let text = "";
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  return {
    text,
    chunks,
    requestId: response.headers.get("x-request-id"),
    participant: response.headers.get("x-gambi-participant"),
  };
}

async function responses() {
  const stream = await client.responses.create({
    model,
    input: "Hello from a browser",
    stream: true,
  });
  let text = "";
  const types = new Set();
  let completed = null;
  for await (const event of stream) {
    types.add(event.type);
    if (event.type === "response.output_text.delta") text += event.delta;
    if (event.type === "response.completed") {
      completed = event.response.output
        .flatMap((item) => item.content ?? [])
        .map((part) => part.text ?? "")
        .join("");
    }
  }
  return { text, completed, events: [...types] };
}

async function main() {
  const result = { origin: location.origin };
  result.chat = await chat();
  result.responses = await responses();
  document.getElementById("result").textContent = JSON.stringify(result);
}

main()
  .catch((error) => {
    const kind = error?.constructor?.name ?? "Error";
    document.getElementById("error").textContent = `${kind}: ${error?.message ?? error}`;
  })
  .finally(() => {
    document.body.dataset.done = "1";
  });
