// A platform's webhook receiver check, as docs/platforms.md#webhooks gives it (issue 19): the
// Standard Webhooks library from npm verifies what escrow sent. Reads {"headers", "body_b64"} on
// stdin, the whsec_ secret as argv[2]; prints the verified event as JSON, or exits 1.
import { Webhook } from "standardwebhooks";

const input = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (chunk) => (data += chunk));
  process.stdin.on("end", () => resolve(data));
}));
const body = Buffer.from(input.body_b64, "base64").toString("utf8"); // the raw body, unparsed
try {
  const event = new Webhook(process.argv[2]).verify(body, input.headers);
  console.log(JSON.stringify(event));
} catch (error) {
  console.error(`refused: ${error.message}`);
  process.exit(1);
}
