// The Vercel AI SDK as a team's Node app uses it, against the console: text, a stream, an object and a tool loop.
// BASE, KEY and MODEL come from the environment; one JSON line of what came back goes to stdout.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const provider = createOpenAICompatible({
  name: "console",
  baseURL: process.env.BASE,
  apiKey: process.env.KEY,
  supportsStructuredOutputs: true,
});
const model = provider.chatModel(process.env.MODEL);
const calls = [];
const weather = tool({
  description: "The weather in a city",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => {
    calls.push(city);
    return `18 degrees in ${city}`;
  },
});
const out = {};

const text = await generateText({ model, prompt: "Say three words", maxOutputTokens: 3 });
out.generateText = { text: text.text, finishReason: text.finishReason, usage: text.usage };

const stream = streamText({ model, prompt: "Say four words", maxOutputTokens: 4 });
let streamed = "";
for await (const piece of stream.textStream) streamed += piece;
out.streamText = { text: streamed, finishReason: await stream.finishReason, usage: await stream.usage };

const object = await generateObject({
  model,
  schema: z.object({ city: z.string(), degrees: z.number().int() }),
  prompt: "Weather in Paris",
});
out.generateObject = object.object;

const loop = await generateText({
  model,
  prompt: "Weather in Paris?",
  tools: { get_weather: weather },
  stopWhen: stepCountIs(3),
});
out.tools = { calls: [...calls], text: loop.text, steps: loop.steps.map((s) => s.finishReason) };

const streamedLoop = streamText({
  model,
  prompt: "Weather in Paris?",
  tools: { get_weather: weather },
  stopWhen: stepCountIs(3),
});
out.streamedTools = { text: await streamedLoop.text, calls: [...calls] };

console.log(JSON.stringify(out));
