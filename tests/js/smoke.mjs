// Smoke test of Dyne's DynamoDB-compatible HTTP endpoint with the unmodified AWS SDK for
// JavaScript v3 (@aws-sdk/client-dynamodb). The endpoint comes from DYNE_ENDPOINT (e.g.
// http://127.0.0.1:8000); credentials and region from the usual AWS_* variables (defaults:
// dev/dev, us-east-1). Prints one line per case and ends with "N passed, M failed"; exit status 1
// if anything failed.
//   DYNE_ENDPOINT=http://127.0.0.1:8000 node tests/js/smoke.mjs
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
  ResourceNotFoundException,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import assert from "node:assert/strict";

const endpoint = process.env.DYNE_ENDPOINT;
if (!endpoint) {
  console.error("DYNE_ENDPOINT is not set");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const ddb = new DynamoDBClient({
  endpoint,
  region: process.env.AWS_REGION || "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID || "dev",
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || "dev",
  },
  maxAttempts: 1,
});

const TABLE = "JsSmoke" + process.pid;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitActive(name) {
  const end = Date.now() + 30000;
  while (Date.now() < end) {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: name }));
    if (Table.TableStatus === "ACTIVE") return Table;
    await sleep(50);
  }
  throw new Error(`table ${name} not ACTIVE in 30 s`);
}

// a binary attribute with every byte value, to check base64 both ways
const BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

const ITEM = {
  pk: { S: "user#1" },
  sk: { N: "10" },
  name: { S: "Zoë ✓ \"quoted\" \\ back\nslash" },
  big: { N: "12345678901234567890.123456789012345678" },
  neg: { N: "-0.5" },
  bin: { B: BYTES },
  yes: { BOOL: true },
  no: { BOOL: false },
  nil: { NULL: true },
  list: { L: [{ S: "a" }, { N: "1" }, { BOOL: false }, { L: [] }, { M: {} }] },
  map: { M: { inner: { M: { deep: { S: "x" } } }, n: { N: "7" } } },
  ss: { SS: ["a", "b", "c"] },
  ns: { NS: ["1", "2.5", "-3"] },
  bs: { BS: [Uint8Array.of(0), Uint8Array.of(1, 2)] },
};

function sortSet(v) {
  return [...v].sort();
}

const cases = [
  ["ListTables", async () => {
    const r = await ddb.send(new ListTablesCommand({}));
    assert.equal(r.$metadata.httpStatusCode, 200);
    // DynamoDB always sends TableNames, [] when there are none; SDK users index it directly
    assert.ok(Array.isArray(r.TableNames), `TableNames missing from ${JSON.stringify(r)}`);
  }],

  ["CreateTable, wait ACTIVE through DescribeTable", async () => {
    const r = await ddb.send(new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "N" },
      ],
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      BillingMode: "PAY_PER_REQUEST",
    }));
    assert.equal(r.TableDescription.TableName, TABLE);
    const t = await waitActive(TABLE);
    assert.equal(t.TableStatus, "ACTIVE");
    assert.ok(t.CreationDateTime instanceof Date, "CreationDateTime parsed as a Date");
    assert.deepEqual(t.KeySchema, [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ]);
    const names = (await ddb.send(new ListTablesCommand({}))).TableNames;
    assert.ok(names.includes(TABLE), names);
  }],

  ["PutItem / GetItem with every type", async () => {
    const put = await ddb.send(new PutItemCommand({ TableName: TABLE, Item: ITEM }));
    assert.equal(put.$metadata.httpStatusCode, 200);
    const { Item } = await ddb.send(new GetItemCommand({
      TableName: TABLE, Key: { pk: ITEM.pk, sk: ITEM.sk }, ConsistentRead: true,
    }));
    assert.ok(Item, "item found");
    assert.deepEqual(Item.pk, ITEM.pk);
    assert.deepEqual(Item.sk, ITEM.sk);
    assert.equal(Item.name.S, ITEM.name.S);
    assert.equal(Item.big.N, ITEM.big.N);
    assert.equal(Item.neg.N, "-0.5");
    assert.deepEqual(Buffer.from(Item.bin.B), Buffer.from(BYTES));
    assert.equal(Item.yes.BOOL, true);
    assert.equal(Item.no.BOOL, false);
    assert.equal(Item.nil.NULL, true);
    assert.deepEqual(Item.list, ITEM.list);
    assert.deepEqual(Item.map, ITEM.map);
    assert.deepEqual(sortSet(Item.ss.SS), ["a", "b", "c"]);
    assert.deepEqual(sortSet(Item.ns.NS), sortSet(["1", "2.5", "-3"]));
    assert.deepEqual(Item.bs.BS.map((b) => Buffer.from(b).toString("hex")).sort(), ["00", "0102"]);
    const miss = await ddb.send(new GetItemCommand({
      TableName: TABLE, Key: { pk: { S: "nobody" }, sk: { N: "0" } },
    }));
    assert.equal(miss.Item, undefined);
  }],

  ["GetItem with a projection expression", async () => {
    const { Item } = await ddb.send(new GetItemCommand({
      TableName: TABLE, Key: { pk: ITEM.pk, sk: ITEM.sk },
      ProjectionExpression: "#n, #m.#i.deep, #l[1]",
      ExpressionAttributeNames: { "#n": "name", "#m": "map", "#i": "inner", "#l": "list" },
    }));
    assert.deepEqual(Item, {
      name: ITEM.name,
      map: { M: { inner: { M: { deep: { S: "x" } } } } },
      list: { L: [{ N: "1" }] },
    });
  }],

  ["UpdateItem with an update expression", async () => {
    const r = await ddb.send(new UpdateItemCommand({
      TableName: TABLE,
      Key: { pk: ITEM.pk, sk: ITEM.sk },
      UpdateExpression: "SET #c = if_not_exists(#c, :zero) + :inc, tags = list_append(:t, :t) " +
        "REMOVE nil ADD ss :more DELETE ns :one",
      ConditionExpression: "attribute_exists(pk) AND yes = :true",
      ExpressionAttributeNames: { "#c": "counter" },
      ExpressionAttributeValues: {
        ":zero": { N: "0" }, ":inc": { N: "5" }, ":t": { L: [{ S: "t" }] },
        ":more": { SS: ["d"] }, ":one": { NS: ["1"] }, ":true": { BOOL: true },
      },
      ReturnValues: "ALL_NEW",
    }));
    const a = r.Attributes;
    assert.equal(a.counter.N, "5");
    assert.deepEqual(a.tags, { L: [{ S: "t" }, { S: "t" }] });
    assert.equal(a.nil, undefined);
    assert.deepEqual(sortSet(a.ss.SS), ["a", "b", "c", "d"]);
    assert.deepEqual(sortSet(a.ns.NS), sortSet(["2.5", "-3"]));
    const r2 = await ddb.send(new UpdateItemCommand({
      TableName: TABLE, Key: { pk: ITEM.pk, sk: ITEM.sk },
      UpdateExpression: "SET #c = #c + :inc",
      ExpressionAttributeNames: { "#c": "counter" },
      ExpressionAttributeValues: { ":inc": { N: "2" } },
      ReturnValues: "UPDATED_OLD",
    }));
    assert.deepEqual(r2.Attributes, { counter: { N: "5" } });
  }],

  ["Query with a key condition, filter, limit and paging", async () => {
    for (let i = 0; i < 10; i++) {
      await ddb.send(new PutItemCommand({
        TableName: TABLE,
        Item: { pk: { S: "user#2" }, sk: { N: String(i) }, odd: { BOOL: i % 2 === 1 } },
      }));
    }
    const q = await ddb.send(new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: "pk = :p AND sk BETWEEN :lo AND :hi",
      FilterExpression: "odd = :t",
      ExpressionAttributeValues: {
        ":p": { S: "user#2" }, ":lo": { N: "2" }, ":hi": { N: "8" }, ":t": { BOOL: true },
      },
      ScanIndexForward: false,
    }));
    assert.equal(q.ScannedCount, 7);
    assert.deepEqual(q.Items.map((it) => it.sk.N), ["7", "5", "3"]);
    // paging: 3 per page through the 10 items
    let seen = [];
    let start;
    let pages = 0;
    do {
      const p = await ddb.send(new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": { S: "user#2" } },
        Limit: 3,
        ExclusiveStartKey: start,
      }));
      seen = seen.concat(p.Items.map((it) => Number(it.sk.N)));
      start = p.LastEvaluatedKey;
      pages++;
    } while (start && pages < 10);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const c = await ddb.send(new QueryCommand({
      TableName: TABLE, Select: "COUNT",
      KeyConditionExpression: "pk = :p AND sk >= :lo",
      ExpressionAttributeValues: { ":p": { S: "user#2" }, ":lo": { N: "5" } },
    }));
    assert.equal(c.Count, 5);
  }],

  ["Query with no match sends Items: []", async () => {
    // DynamoDB sends "Items": [] and Count 0
    const none = await ddb.send(new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: "pk = :p",
      ExpressionAttributeValues: { ":p": { S: "nobody" } },
    }));
    assert.equal(none.Count, 0);
    assert.deepEqual(none.Items, [], `Items missing from ${JSON.stringify(none)}`);
  }],

  ["ConditionalCheckFailedException as the SDK's typed exception", async () => {
    let err;
    try {
      await ddb.send(new PutItemCommand({
        TableName: TABLE, Item: { pk: ITEM.pk, sk: ITEM.sk },
        ConditionExpression: "attribute_not_exists(pk)",
      }));
    } catch (e) {
      err = e;
    }
    assert.ok(err, "the conditional put must fail");
    assert.ok(err instanceof ConditionalCheckFailedException, `got ${err.name}: ${err.message}`);
    assert.ok(err instanceof DynamoDBServiceException);
    assert.equal(err.name, "ConditionalCheckFailedException");
    assert.equal(err.$fault, "client");
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(err.message, "The conditional request failed");
    // a failed DeleteItem condition, with ReturnValuesOnConditionCheckFailure
    let err2;
    try {
      await ddb.send(new DeleteItemCommand({
        TableName: TABLE, Key: { pk: ITEM.pk, sk: ITEM.sk },
        ConditionExpression: "#c = :x",
        ExpressionAttributeNames: { "#c": "counter" },
        ExpressionAttributeValues: { ":x": { N: "999" } },
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }));
    } catch (e) {
      err2 = e;
    }
    assert.ok(err2 instanceof ConditionalCheckFailedException, String(err2));
    // the SDK hands over the item as it was
    assert.ok(err2.Item, `no Item on ${JSON.stringify(err2)}`);
    assert.equal(err2.Item.counter.N, "7");
    assert.deepEqual(err2.Item.pk, ITEM.pk);
    // the item is still there
    const { Item } = await ddb.send(new GetItemCommand({
      TableName: TABLE, Key: { pk: ITEM.pk, sk: ITEM.sk }, ConsistentRead: true,
    }));
    assert.equal(Item.counter.N, "7");
  }],

  ["DeleteItem with ReturnValues", async () => {
    const r = await ddb.send(new DeleteItemCommand({
      TableName: TABLE, Key: { pk: { S: "user#2" }, sk: { N: "0" } }, ReturnValues: "ALL_OLD",
    }));
    assert.deepEqual(r.Attributes, { pk: { S: "user#2" }, sk: { N: "0" }, odd: { BOOL: false } });
  }],

  ["ValidationException and ResourceNotFoundException", async () => {
    let err;
    try {
      await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: "x" } } }));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof DynamoDBServiceException, String(err));
    assert.equal(err.name, "ValidationException");
    let nf;
    try {
      await ddb.send(new DescribeTableCommand({ TableName: "NoSuchTable" + process.pid }));
    } catch (e) {
      nf = e;
    }
    assert.ok(nf instanceof ResourceNotFoundException, String(nf));
  }],

  ["DeleteTable", async () => {
    const r = await ddb.send(new DeleteTableCommand({ TableName: TABLE }));
    assert.equal(r.TableDescription.TableName, TABLE);
    const end = Date.now() + 30000;
    for (;;) {
      try {
        await ddb.send(new DescribeTableCommand({ TableName: TABLE }));
      } catch (e) {
        if (e instanceof ResourceNotFoundException) break;
        throw e;
      }
      if (Date.now() > end) throw new Error("table still there after 30 s");
      await sleep(50);
    }
    const names = (await ddb.send(new ListTablesCommand({}))).TableNames ?? [];
    assert.ok(!names.includes(TABLE), names);
  }],
];

let passed = 0;
let failed = 0;
for (const [name, fn] of cases) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(2)}s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}
ddb.destroy();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
