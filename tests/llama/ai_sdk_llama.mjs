// The Vercel AI SDK against llama.cpp, through the console or straight to llama-server (the test runs it both ways
// and compares): text and a stream (greedy, the end token kept out), an object of enums, and a tool loop whose first
// step must call the tool. CHAT_BASE, TOOLS_BASE, KEY, CHAT_MODEL and TOOLS_MODEL come from the environment.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const open = (baseURL) =>
  createOpenAICompatible({ name: "console", baseURL, apiKey: process.env.KEY, supportsStructuredOutputs: true });
const chat = open(process.env.CHAT_BASE).chatModel(process.env.CHAT_MODEL);
const tools = open(process.env.TOOLS_BASE).chatModel(process.env.TOOLS_MODEL);
const greedy = { temperature: 0, seed: 1 };
const text = { ...greedy, providerOptions: { console: { logit_bias: { 151645: -100 } } } };
const calls = [];
const weather = tool({
  description: "The weather in a city",
  inputSchema: z.object({ city: z.enum(["Paris", "Tokyo", "Lima"]) }),
  execute: async ({ city }) => {
    calls.push(city);
    return `18 degrees in ${city}`;
  },
});
const firstStepCalls = ({ stepNumber }) => ({ toolChoice: stepNumber === 0 ? "required" : "auto" });
const out = {};

const whole = await generateText({ model: chat, prompt: "Say something", maxOutputTokens: 6, ...text });
out.generateText = { text: whole.text, finishReason: whole.finishReason, usage: whole.usage };

const stream = streamText({ model: chat, prompt: "Say something", maxOutputTokens: 6, ...text });
let streamed = "";
for await (const piece of stream.textStream) streamed += piece;
out.streamText = { text: streamed, finishReason: await stream.finishReason };

const object = await generateObject({
  model: chat,
  schema: z.object({ city: z.enum(["Paris", "Tokyo", "Lima"]), sunny: z.boolean() }),
  prompt: "Weather in Paris",
  maxOutputTokens: 200,
  ...greedy,
});
out.generateObject = object.object;

const loop = await generateText({
  model: tools,
  prompt: "Weather in Paris?",
  tools: { get_weather: weather },
  prepareStep: firstStepCalls,
  stopWhen: stepCountIs(3),
  maxOutputTokens: 200,
  ...greedy,
});
out.tools = { calls: [...calls], steps: loop.steps.map((s) => s.finishReason), text: loop.text };

const streamedLoop = streamText({
  model: tools,
  prompt: "Weather in Paris?",
  tools: { get_weather: weather },
  prepareStep: firstStepCalls,
  stopWhen: stepCountIs(3),
  maxOutputTokens: 200,
  ...greedy,
});
out.streamedTools = { text: await streamedLoop.text, calls: [...calls] };

console.log(JSON.stringify(out));
