import { rememberSecret } from "./secret-audit.ts";

/*
 * A client key made the way an operator makes one, through POST /levity/keys. Its secret joins
 * the suite's secret audit, so whatever a gateway writes afterwards is searched for it too.
 */

export interface MadeKey {
  status: number;
  body: any;
  /** The secret, when the key was made. */
  secret?: string;
}

export async function makeKey(
  origin: string,
  adminKey: string | undefined,
  body: Record<string, unknown>,
): Promise<MadeKey> {
  const response = await fetch(`${origin}/levity/keys`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(adminKey ? { authorization: `Bearer ${adminKey}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const answer: any = await response.json();
  if (typeof answer?.secret === "string") rememberSecret(answer.secret);
  return { status: response.status, body: answer, secret: answer?.secret };
}
