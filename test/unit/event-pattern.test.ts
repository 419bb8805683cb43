import { describe, expect, it } from 'vitest';
import {
  type EventPattern,
  InvalidEventPatternError,
  matchesEventPattern,
  validateEventPattern,
} from '../../functions/core/event-pattern.js';

/** Full EventBridge envelope; `detail` and top-level fields can be overridden per case. */
function envelope(detail: unknown = {}, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: '111122223333',
    time: '2017-12-22T18:43:48Z',
    region: 'us-west-1',
    resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
    detail,
    ...overrides,
  };
}

type DocExample = [name: string, pattern: EventPattern, matching: unknown, nonMatching: unknown];

/**
 * Every example of the AWS "Comparison operators for use in event patterns" page (summary table rows are
 * placed under `detail`), plus the examples of the "Event patterns", "Null values and empty strings" and
 * "Arrays" pages. Each has one matching and one non-matching event.
 */
const DOC_EXAMPLES: DocExample[] = [
  // --- summary table
  [
    'And',
    { detail: { Location: ['New York'], Day: ['Monday'] } },
    envelope({ Location: 'New York', Day: 'Monday' }),
    envelope({ Location: 'New York', Day: 'Tuesday' }),
  ],
  [
    'Anything-but',
    { detail: { state: [{ 'anything-but': 'initializing' }] } },
    envelope({ state: 'running' }),
    envelope({ state: 'initializing' }),
  ],
  [
    'Anything-but (begins with)',
    { detail: { Region: [{ 'anything-but': { prefix: 'us-' } }] } },
    envelope({ Region: 'eu-west-1' }),
    envelope({ Region: 'us-east-1' }),
  ],
  [
    'Anything-but (ends with)',
    { detail: { FileName: [{ 'anything-but': { suffix: '.png' } }] } },
    envelope({ FileName: 'photo.jpg' }),
    envelope({ FileName: 'photo.png' }),
  ],
  [
    'Anything-but (ignore case)',
    { detail: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] } },
    envelope({ state: 'running' }),
    envelope({ state: 'INITIALIZING' }),
  ],
  [
    'Anything-but using a wildcard',
    { detail: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] } },
    envelope({ FilePath: '/usr/bin/tool' }),
    envelope({ FilePath: '/usr/lib/libc.so' }),
  ],
  [
    'Begins with',
    { detail: { Region: [{ prefix: 'us-' }] } },
    envelope({ Region: 'us-east-1' }),
    envelope({ Region: 'eu-west-1' }),
  ],
  [
    'Begins with (ignore case)',
    { detail: { service: [{ prefix: { 'equals-ignore-case': 'eventb' } }] } },
    envelope({ service: 'EventBridge' }),
    envelope({ service: 'SQS' }),
  ],
  ['Empty', { detail: { LastName: [''] } }, envelope({ LastName: '' }), envelope({ LastName: null })],
  ['Equals', { detail: { Name: ['Alice'] } }, envelope({ Name: 'Alice' }), envelope({ Name: 'alice' })],
  [
    'Equals (ignore case)',
    { detail: { Name: [{ 'equals-ignore-case': 'alice' }] } },
    envelope({ Name: 'ALICE' }),
    envelope({ Name: 'Alicia' }),
  ],
  [
    'Ends with',
    { detail: { FileName: [{ suffix: '.png' }] } },
    envelope({ FileName: 'photo.png' }),
    envelope({ FileName: 'photo.PNG' }),
  ],
  [
    'Ends with (ignore case)',
    { detail: { service: [{ suffix: { 'equals-ignore-case': 'tBridge' } }] } },
    envelope({ service: 'EVENTBRIDGE' }),
    envelope({ service: 'EventBus' }),
  ],
  [
    'Exists',
    { detail: { ProductName: [{ exists: true }] } },
    envelope({ ProductName: 'Widget' }),
    envelope({ Price: 10 }),
  ],
  [
    'Does not exist',
    { detail: { ProductName: [{ exists: false }] } },
    envelope({ Price: 10 }),
    envelope({ ProductName: 'Widget' }),
  ],
  [
    'Not',
    { detail: { Weather: [{ 'anything-but': ['Raining'] }] } },
    envelope({ Weather: 'Sunny' }),
    envelope({ Weather: 'Raining' }),
  ],
  ['Null', { detail: { UserID: [null] } }, envelope({ UserID: null }), envelope({})],
  [
    'Numeric (equals)',
    { detail: { Price: [{ numeric: ['=', 100] }] } },
    envelope({ Price: 100 }),
    envelope({ Price: 101 }),
  ],
  [
    'Numeric (range)',
    { detail: { Price: [{ numeric: ['>', 10, '<=', 20] }] } },
    envelope({ Price: 20 }),
    envelope({ Price: 10 }),
  ],
  [
    'Or',
    { detail: { PaymentType: ['Credit', 'Debit'] } },
    envelope({ PaymentType: 'Debit' }),
    envelope({ PaymentType: 'Cash' }),
  ],
  [
    'Or (multiple fields)',
    { detail: { $or: [{ Location: ['New York'] }, { Day: ['Monday'] }] } },
    envelope({ Location: 'Paris', Day: 'Monday' }),
    envelope({ Location: 'Paris', Day: 'Tuesday' }),
  ],
  [
    'Wildcard',
    { detail: { FileName: [{ wildcard: 'dir/*.png' }] } },
    envelope({ FileName: 'dir/photo.png' }),
    envelope({ FileName: 'other/photo.png' }),
  ],
  // --- detailed sections
  [
    'Prefix matching',
    { time: [{ prefix: '2017-10-02' }] },
    envelope({}, { time: '2017-10-02T18:43:48Z' }),
    envelope({}, { time: '2017-10-03T18:43:48Z' }),
  ],
  [
    'Prefix matching while ignoring case',
    { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } },
    envelope({ service: 'eventbridge' }),
    envelope({ service: 'sqs' }),
  ],
  [
    'Suffix matching',
    { detail: { FileName: [{ suffix: '.png' }] } },
    envelope({ FileName: 'image.png' }),
    envelope({ FileName: 'image.jpg' }),
  ],
  [
    'Suffix matching while ignoring case',
    { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } },
    envelope({ FileName: 'IMAGE.PNG' }),
    envelope({ FileName: 'image.gif' }),
  ],
  [
    'Anything-but (string)',
    { detail: { state: [{ 'anything-but': 'initializing' }] } },
    envelope({ state: 'stopped' }),
    envelope({ state: 'initializing' }),
  ],
  [
    'Anything-but (number)',
    { detail: { 'x-limit': [{ 'anything-but': 123 }] } },
    envelope({ 'x-limit': 456 }),
    envelope({ 'x-limit': 123 }),
  ],
  [
    'Anything-but (list of strings)',
    { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } },
    envelope({ state: 'running' }),
    envelope({ state: 'overloaded' }),
  ],
  [
    'Anything-but (list of numbers)',
    { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } },
    envelope({ 'x-limit': 150 }),
    envelope({ 'x-limit': 300 }),
  ],
  [
    'Anything-but using prefixes',
    { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } },
    envelope({ state: 'running' }),
    envelope({ state: 'initializing' }),
  ],
  [
    'Anything-but using suffixes',
    { detail: { FileName: [{ 'anything-but': { suffix: '.txt' } }] } },
    envelope({ FileName: 'notes.md' }),
    envelope({ FileName: 'notes.txt' }),
  ],
  [
    'Anything-but ignoring case (list)',
    { detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['Stopped', 'OverLoaded'] } }] } },
    envelope({ state: 'running' }),
    envelope({ state: 'STOPPED' }),
  ],
  [
    'Anything-but using wildcards (list)',
    { detail: { FilePath: [{ 'anything-but': { wildcard: ['*/lib/*', '*/bin/*'] } }] } },
    envelope({ FilePath: '/usr/share/doc' }),
    envelope({ FilePath: '/usr/bin/env' }),
  ],
  [
    'Numeric matching',
    {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    },
    envelope({ 'c-count': 5, 'd-count': 3, 'x-limit': 301.8 }),
    envelope({ 'c-count': 0, 'd-count': 3, 'x-limit': 301.8 }),
  ],
  [
    'IP address matching',
    { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } },
    envelope({ sourceIPAddress: '10.0.0.255' }),
    envelope({ sourceIPAddress: '10.0.1.0' }),
  ],
  [
    'Exists matching (true)',
    { detail: { 'c-count': [{ exists: true }] } },
    envelope({ 'c-count': 5 }),
    envelope({ state: 'running' }),
  ],
  [
    'Exists matching (false)',
    { detail: { 'c-count': [{ exists: false }] } },
    envelope({ state: ['initializing', 'running'] }),
    envelope({ 'c-count': 5 }),
  ],
  [
    'Exists matching (false) on a non-leaf node',
    { detail: { 'c-count': [{ exists: false }] } },
    envelope({ state: 'running', 'c-count': { c1: 100 } }),
    envelope({ 'c-count': 100 }),
  ],
  [
    'Equals-ignore-case matching',
    { 'detail-type': [{ 'equals-ignore-case': 'ec2 instance state-change notification' }] },
    envelope(),
    envelope({}, { 'detail-type': 'EC2 Spot Instance Interruption Warning' }),
  ],
  [
    'Wildcard matching',
    { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] },
    envelope({}, { EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/default' }),
    envelope({}, { EventBusArn: 'arn:aws:events:us-west-2:123456789012:event-bus/default' }),
  ],
  [
    'Complex example with multiple matching',
    {
      time: [{ prefix: '2017-10-02' }],
      detail: {
        state: [{ 'anything-but': 'initializing' }],
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ 'anything-but': [100, 200, 300] }],
      },
    },
    envelope({ state: 'running', 'c-count': 1, 'd-count': 9, 'x-limit': 301.8 }, { time: '2017-10-02T16:24:49Z' }),
    envelope({ state: 'running', 'c-count': 1, 'd-count': 9, 'x-limit': 200 }, { time: '2017-10-02T16:24:49Z' }),
  ],
  [
    '$or with numeric matching',
    {
      detail: {
        $or: [
          { 'c-count': [{ numeric: ['>', 0, '<=', 5] }] },
          { 'd-count': [{ numeric: ['<', 10] }] },
          { 'x-limit': [{ numeric: ['=', 3.018e2] }] },
        ],
      },
    },
    envelope({ 'c-count': 10, 'd-count': 3 }),
    envelope({ 'c-count': 10, 'd-count': 12, 'x-limit': 1 }),
  ],
  [
    '$or with a sibling field',
    {
      source: ['aws.cloudwatch'],
      $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
    },
    envelope({}, { source: 'aws.cloudwatch', namespace: 'AWS/EC2' }),
    envelope({}, { source: 'aws.cloudwatch', namespace: 'AWS/Lambda' }),
  ],
  // --- "Event patterns", "Null values and empty strings" and "Arrays" pages
  [
    'Event pattern for EC2 terminations',
    {
      source: ['aws.ec2'],
      'detail-type': ['EC2 Instance State-change Notification'],
      detail: { state: ['terminated'] },
    },
    envelope({ 'instance-id': 'i-1234567890abcdef0', state: 'terminated' }),
    envelope({ state: 'running' }),
  ],
  [
    'Value matching (Macie risk score)',
    { source: ['aws.macie'], 'detail-type': ['Macie Alert'], detail: { 'risk-score': [80], trigger: { risk: [8] } } },
    envelope({ 'risk-score': 80, trigger: { risk: 8 } }, { source: 'aws.macie', 'detail-type': 'Macie Alert' }),
    envelope({ 'risk-score': 80, trigger: { risk: 7 } }, { source: 'aws.macie', 'detail-type': 'Macie Alert' }),
  ],
  [
    'Empty string value',
    { detail: { eventVersion: [''] } },
    envelope({ eventVersion: '', responseElements: null }),
    envelope({ eventVersion: null }),
  ],
  [
    'Null value',
    { detail: { responseElements: [null] } },
    envelope({ eventVersion: '', responseElements: null }),
    envelope({ responseElements: '' }),
  ],
  [
    'Arrays: intersection with the event array',
    {
      resources: [
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
      ],
    },
    envelope(
      {},
      {
        resources: [
          'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x',
          'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        ],
      },
    ),
    envelope({}, { resources: ['arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f'] }),
  ],
];

describe('AWS documentation examples', () => {
  it.each(DOC_EXAMPLES)('%s: matches the matching event', (_name, pattern, matching) => {
    expect(matchesEventPattern(pattern, matching)).toBe(true);
  });
  it.each(DOC_EXAMPLES)('%s: rejects the non-matching event', (_name, pattern, _matching, nonMatching) => {
    expect(matchesEventPattern(pattern, nonMatching)).toBe(false);
  });
  it.each(DOC_EXAMPLES)('%s: is a valid pattern', (_name, pattern) => {
    expect(() => validateEventPattern(pattern)).not.toThrow();
  });
});

type EdgeCase = [name: string, pattern: EventPattern, detail: unknown, expected: boolean];
const field = (matchers: unknown[]): EventPattern => ({ detail: { f: matchers } });

const EDGE_CASES: Record<string, EdgeCase[]> = {
  'null, empty and missing': [
    ['[null] matches a null value', field([null]), { f: null }, true],
    ['[null] does not match a missing field', field([null]), {}, false],
    ['[null] does not match an empty string', field([null]), { f: '' }, false],
    ['[""] does not match null', field(['']), { f: null }, false],
    ['[""] does not match a missing field', field(['']), {}, false],
    ['exists:true matches a null value', field([{ exists: true }]), { f: null }, true],
    ['exists:false does not match a null value', field([{ exists: false }]), { f: null }, false],
    ['exists:true does not match an object-valued field', field([{ exists: true }]), { f: { a: 1 } }, false],
    ['exists:true does not match an empty array', field([{ exists: true }]), { f: [] }, false],
    ['exists:false matches an empty array', field([{ exists: false }]), { f: [] }, true],
    ['exists:false matches when the parent is missing', field([{ exists: false }]), undefined, true],
    ['exists:true fails when the parent is missing', field([{ exists: true }]), undefined, false],
    ['exists:false matches when the parent is a string', field([{ exists: false }]), 'text', true],
    ['exists:true matches false', field([{ exists: true }]), { f: false }, true],
    ['prototype keys are not fields', { detail: { constructor: [{ exists: true }] } }, {}, false],
  ],
  'exact matching and types': [
    ['300 matches 300.0', field([300]), { f: 300.0 }, true],
    ['300 matches 3.0e2', field([300]), { f: 3.0e2 }, true],
    ['number does not match its string form', field([300]), { f: '300' }, false],
    ['string does not match the number', field(['300']), { f: 300 }, false],
    ['true matches true', field([true]), { f: true }, true],
    ['true does not match "true"', field([true]), { f: 'true' }, false],
    ['false does not match 0', field([false]), { f: 0 }, false],
    ['0 does not match false', field([0]), { f: false }, false],
    ['strings are case sensitive', field(['Alice']), { f: 'ALICE' }, false],
    ['a leaf pattern never matches an object', field(['x']), { f: { x: 'x' } }, false],
    ['mixed matcher list: exact or prefix', field(['a', { prefix: 'x' }]), { f: 'xyz' }, true],
  ],
  'event arrays': [
    ['any element may match', field(['b']), { f: ['a', 'b'] }, true],
    ['no element matches', field(['c']), { f: ['a', 'b'] }, false],
    ['nested arrays are flattened', field(['b']), { f: [['a'], ['b']] }, true],
    ['empty array never matches a value', field(['x']), { f: [] }, false],
    ['prefix on an array', field([{ prefix: 'ru' }]), { f: ['stopped', 'running'] }, true],
    ['numeric on an array', field([{ numeric: ['>', 10] }]), { f: [1, 50] }, true],
    [
      'array of objects: one element matches',
      { detail: { employees: { firstName: ['Anna'] } } },
      { employees: [{ firstName: 'John' }, { firstName: 'Anna' }] },
      true,
    ],
    [
      'array of objects: fields must come from the same element',
      { detail: { employees: { firstName: ['Anna'], lastName: ['Jones'] } } },
      {
        employees: [
          { firstName: 'Anna', lastName: 'Smith' },
          { firstName: 'Peter', lastName: 'Jones' },
        ],
      },
      false,
    ],
    [
      'array of objects: both fields in one element',
      { detail: { employees: { firstName: ['Anna'], lastName: ['Smith'] } } },
      {
        employees: [
          { firstName: 'John', lastName: 'Doe' },
          { firstName: 'Anna', lastName: 'Smith' },
        ],
      },
      true,
    ],
    [
      'array of primitives under a nested pattern: fields are absent',
      { detail: { a: { b: [{ exists: false }] } } },
      { a: [1, 2] },
      true,
    ],
    [
      'array of objects: exists:false fails when the only element has the field',
      { detail: { a: { b: [{ exists: false }] } } },
      { a: [{ b: 1 }] },
      false,
    ],
    [
      'array mixing objects and primitives: only objects are searched',
      { detail: { a: { b: [{ exists: false }] } } },
      { a: [{ b: 1 }, 7] },
      false,
    ],
    [
      'array of objects: exists:false matches an element without the field',
      { detail: { a: { b: [{ exists: false }] } } },
      { a: [{ b: 1 }, { c: 2 }] },
      true,
    ],
  ],
  'anything-but': [
    ['does not match a missing field', field([{ 'anything-but': 'x' }]), {}, false],
    ['does not match an object-valued field', field([{ 'anything-but': 'x' }]), { f: { a: 1 } }, false],
    ['does not match an empty array', field([{ 'anything-but': 'x' }]), { f: [] }, false],
    ['matches a null value (null is not excluded)', field([{ 'anything-but': 'x' }]), { f: null }, true],
    [
      'array matches when one element is not excluded',
      field([{ 'anything-but': 'initializing' }]),
      { f: ['initializing', 'running'] },
      true,
    ],
    ['array fails when every element is excluded', field([{ 'anything-but': ['a', 'b'] }]), { f: ['a', 'b'] }, false],
    ['string exclusion lets numbers through', field([{ 'anything-but': 'x' }]), { f: 5 }, true],
    ['numeric exclusion lets the string form through', field([{ 'anything-but': 123 }]), { f: '123' }, true],
    ['numeric exclusion is numeric equality', field([{ 'anything-but': 123 }]), { f: 123.0 }, false],
    ['prefix exclusion lets numbers through', field([{ 'anything-but': { prefix: '1' } }]), { f: 123 }, true],
    [
      'equals-ignore-case single value',
      field([{ 'anything-but': { 'equals-ignore-case': 'Stopped' } }]),
      { f: 'sTOPPED' },
      false,
    ],
    ['prefix list: excluded', field([{ 'anything-but': { prefix: ['us-', 'eu-'] } }]), { f: 'eu-west-1' }, false],
    ['prefix list: allowed', field([{ 'anything-but': { prefix: ['us-', 'eu-'] } }]), { f: 'ap-south-1' }, true],
    ['suffix list: excluded', field([{ 'anything-but': { suffix: ['.png', '.jpg'] } }]), { f: 'a.jpg' }, false],
    ['suffix list: allowed', field([{ 'anything-but': { suffix: ['.png', '.jpg'] } }]), { f: 'a.gif' }, true],
    ['is case sensitive without equals-ignore-case', field([{ 'anything-but': 'Stopped' }]), { f: 'stopped' }, true],
  ],
  'string operators on non-strings': [
    ['prefix vs number', field([{ prefix: '1' }]), { f: 123 }, false],
    ['suffix vs number', field([{ suffix: '3' }]), { f: 123 }, false],
    ['equals-ignore-case vs boolean', field([{ 'equals-ignore-case': 'true' }]), { f: true }, false],
    ['wildcard "*" vs number', field([{ wildcard: '*' }]), { f: 5 }, false],
    ['wildcard "*" vs null', field([{ wildcard: '*' }]), { f: null }, false],
    ['empty prefix matches any string', field([{ prefix: '' }]), { f: 'abc' }, true],
    ['empty prefix does not match null', field([{ prefix: '' }]), { f: null }, false],
    ['prefix ignore-case vs number', field([{ prefix: { 'equals-ignore-case': '1' } }]), { f: 1 }, false],
  ],
  'numeric boundaries': [
    ['> 0 excludes 0', field([{ numeric: ['>', 0] }]), { f: 0 }, false],
    ['>= 0 includes 0', field([{ numeric: ['>=', 0] }]), { f: 0 }, true],
    ['< 10 excludes 10', field([{ numeric: ['<', 10] }]), { f: 10 }, false],
    ['<= 10 includes 10', field([{ numeric: ['<=', 10] }]), { f: 10 }, true],
    ['= 5 matches 5.0', field([{ numeric: ['=', 5] }]), { f: 5.0 }, true],
    ['> 0 <= 5 includes 5', field([{ numeric: ['>', 0, '<=', 5] }]), { f: 5 }, true],
    ['> 0 <= 5 excludes 5.000001', field([{ numeric: ['>', 0, '<=', 5] }]), { f: 5.000001 }, false],
    ['>= 1.5 < 2.5 includes 1.5', field([{ numeric: ['>=', 1.5, '<', 2.5] }]), { f: 1.5 }, true],
    ['>= 1.5 < 2.5 excludes 2.5', field([{ numeric: ['>=', 1.5, '<', 2.5] }]), { f: 2.5 }, false],
    ['negative bounds', field([{ numeric: ['>', -5, '<', 0] }]), { f: -1 }, true],
    ['numeric ignores numeric strings', field([{ numeric: ['=', 5] }]), { f: '5' }, false],
    ['numeric ignores null', field([{ numeric: ['<', 5] }]), { f: null }, false],
    ['numeric ignores booleans', field([{ numeric: ['<', 5] }]), { f: true }, false],
    ['numeric on a missing field', field([{ numeric: ['<', 5] }]), {}, false],
  ],
  cidr: [
    ['v4 network address', field([{ cidr: '10.0.0.0/24' }]), { f: '10.0.0.0' }, true],
    ['v4 outside the block', field([{ cidr: '10.0.0.0/24' }]), { f: '10.0.1.1' }, false],
    ['v4 /32 exact', field([{ cidr: '192.168.1.1/32' }]), { f: '192.168.1.1' }, true],
    ['v4 /32 other address', field([{ cidr: '192.168.1.1/32' }]), { f: '192.168.1.2' }, false],
    ['v4 /0 matches any v4', field([{ cidr: '0.0.0.0/0' }]), { f: '8.8.8.8' }, true],
    ['v4 /0 does not match v6', field([{ cidr: '0.0.0.0/0' }]), { f: '::1' }, false],
    ['host bits in the pattern are masked', field([{ cidr: '10.0.0.5/24' }]), { f: '10.0.0.1' }, true],
    ['non-IP string', field([{ cidr: '10.0.0.0/8' }]), { f: 'ten.zero' }, false],
    ['invalid octet in event', field([{ cidr: '10.0.0.0/8' }]), { f: '10.0.0.256' }, false],
    ['number is not an IP', field([{ cidr: '10.0.0.0/8' }]), { f: 10 }, false],
    ['v6 inside', field([{ cidr: '2001:db8::/32' }]), { f: '2001:db8:1::1' }, true],
    ['v6 outside', field([{ cidr: '2001:db8::/32' }]), { f: '2001:db9::1' }, false],
    [
      'v6 uncompressed, upper case, leading zeros',
      field([{ cidr: '2001:db8::/32' }]),
      { f: '2001:0DB8:0000:0000:0000:0000:0000:0001' },
      true,
    ],
    ['v6 with embedded v4', field([{ cidr: '::ffff:0:0/96' }]), { f: '::ffff:10.0.0.1' }, true],
    ['v4 event vs v6 block', field([{ cidr: '::/0' }]), { f: '10.0.0.1' }, false],
    ['v6 /128 exact', field([{ cidr: '::1/128' }]), { f: '0:0:0:0:0:0:0:1' }, true],
    ['any element of an IP array', field([{ cidr: '10.0.0.0/8' }]), { f: ['192.168.0.1', '10.1.2.3'] }, true],
  ],
  wildcard: [
    ['a*b matches ab', field([{ wildcard: 'a*b' }]), { f: 'ab' }, true],
    ['a*b matches axxb', field([{ wildcard: 'a*b' }]), { f: 'axxb' }, true],
    ['a*b is anchored', field([{ wildcard: 'a*b' }]), { f: 'axxbc' }, false],
    ['* matches anything', field([{ wildcard: '*' }]), { f: 'anything' }, true],
    ['* matches the empty string', field([{ wildcard: '*' }]), { f: '' }, true],
    ['no wildcard is an exact match', field([{ wildcard: 'abc' }]), { f: 'abcd' }, false],
    ['escaped * is literal', field([{ wildcard: 'a\\*b' }]), { f: 'a*b' }, true],
    ['escaped * does not match other chars', field([{ wildcard: 'a\\*b' }]), { f: 'axb' }, false],
    ['escaped backslash is literal', field([{ wildcard: 'a\\\\b' }]), { f: 'a\\b' }, true],
    ['escaped * followed by a wildcard', field([{ wildcard: '\\**' }]), { f: '*abc' }, true],
    ['*.png matches .png', field([{ wildcard: '*.png' }]), { f: '.png' }, true],
    ['a*b*c in order', field([{ wildcard: 'a*b*c' }]), { f: 'abbbc' }, true],
    ['a*b*c out of order', field([{ wildcard: 'a*b*c' }]), { f: 'acb' }, false],
    ['prefix and suffix cannot overlap', field([{ wildcard: 'ab*ba' }]), { f: 'aba' }, false],
    ['repeated segments', field([{ wildcard: '*ab*ab' }]), { f: 'abab' }, true],
    ['case sensitive', field([{ wildcard: 'Dir/*' }]), { f: 'dir/x' }, false],
    ['* spans newlines', field([{ wildcard: 'a*b' }]), { f: 'a\nb' }, true],
    ['regex metacharacters are literal', field([{ wildcard: 'a.c*' }]), { f: 'abc' }, false],
  ],
  'equals-ignore-case': [
    ['upper vs lower', field([{ 'equals-ignore-case': 'ALICE' }]), { f: 'alice' }, true],
    ['different string', field([{ 'equals-ignore-case': 'ALICE' }]), { f: 'alice2' }, false],
    [
      'suffix ignore-case with lowercase pattern',
      field([{ suffix: { 'equals-ignore-case': '.png' } }]),
      { f: 'A.PnG' },
      true,
    ],
  ],
  $or: [
    [
      'sibling fields are ANDed with $or',
      { source: ['aws.ec2'], $or: [{ region: ['us-west-1'] }, { account: ['1'] }] },
      {},
      true,
    ],
    ['$or fails when no branch matches', { detail: { $or: [{ a: ['1'] }, { b: ['2'] }] } }, { a: '2', b: '1' }, false],
    [
      'nested $or inside a $or branch',
      { detail: { $or: [{ a: ['x'] }, { b: ['y'], $or: [{ c: [1] }, { d: [2] }] }] } },
      { b: 'y', d: 2 },
      true,
    ],
    [
      'nested $or: inner fails',
      { detail: { $or: [{ a: ['x'] }, { b: ['y'], $or: [{ c: [1] }, { d: [2] }] }] } },
      { b: 'y', d: 3 },
      false,
    ],
    ['$or branch with exists:false', { detail: { $or: [{ a: [{ exists: false }] }, { b: ['y'] }] } }, { b: 'n' }, true],
    [
      '$or branch with nested objects',
      { detail: { $or: [{ x: { y: ['1'] } }, { z: ['2'] }] } },
      { x: { y: '1' } },
      true,
    ],
    [
      'parallel $or at two levels',
      { $or: [{ source: ['aws.s3'] }, { region: ['us-west-1'] }], detail: { $or: [{ a: ['1'] }, { b: ['2'] }] } },
      { b: '2' },
      true,
    ],
    [
      'parallel $or: one level fails',
      { $or: [{ source: ['aws.s3'] }, { region: ['eu-west-1'] }], detail: { $or: [{ a: ['1'] }, { b: ['2'] }] } },
      { b: '2' },
      false,
    ],
  ],
};

describe.each(Object.entries(EDGE_CASES))('edge cases: %s', (_group, cases) => {
  it.each(cases)('%s', (_name, pattern, detail, expected) => {
    expect(matchesEventPattern(pattern, envelope(detail))).toBe(expected);
  });
});

describe('non-object events', () => {
  it.each([null, 'event', 42, [], undefined])('%j: only absence patterns match', (event) => {
    expect(matchesEventPattern({ source: ['aws.ec2'] }, event)).toBe(false);
    expect(matchesEventPattern({ source: [{ exists: false }] }, event)).toBe(true);
  });
});

const INVALID_PATTERNS: [name: string, pattern: unknown][] = [
  ['null pattern', null],
  ['array pattern', [{ source: ['a'] }]],
  ['string pattern', '{"source":["a"]}'],
  ['empty pattern', {}],
  ['empty nested object', { detail: {} }],
  ['leaf is a string', { source: 'aws.ec2' }],
  ['leaf is a number', { detail: { n: 5 } }],
  ['leaf is null', { source: null }],
  ['empty leaf array', { source: [] }],
  ['nested array in leaf', { source: [['a']] }],
  ['unknown operator', { source: [{ contains: 'x' }] }],
  ['two keys in one operator', { source: [{ prefix: 'a', suffix: 'b' }] }],
  ['empty operator object', { source: [{}] }],
  ['prefix is a number', { source: [{ prefix: 5 }] }],
  ['prefix with an unsupported nested operator', { source: [{ prefix: { wildcard: 'x' } }] }],
  ['suffix is an array', { source: [{ suffix: ['a'] }] }],
  ['equals-ignore-case is a number', { source: [{ 'equals-ignore-case': 1 }] }],
  ['wildcard with consecutive *', { source: [{ wildcard: 'a**b' }] }],
  ['wildcard that is only **', { source: [{ wildcard: '**' }] }],
  ['wildcard with an invalid escape', { source: [{ wildcard: 'a\\b' }] }],
  ['wildcard with a trailing backslash', { source: [{ wildcard: 'a\\' }] }],
  ['wildcard is not a string', { source: [{ wildcard: 1 }] }],
  ['exists is a string', { source: [{ exists: 'true' }] }],
  ['anything-but null', { source: [{ 'anything-but': null }] }],
  ['anything-but boolean', { source: [{ 'anything-but': true }] }],
  ['anything-but empty list', { source: [{ 'anything-but': [] }] }],
  ['anything-but mixed list', { source: [{ 'anything-but': ['a', 1] }] }],
  ['anything-but list with null', { source: [{ 'anything-but': [null] }] }],
  ['anything-but empty object', { source: [{ 'anything-but': {} }] }],
  ['anything-but unknown nested operator', { source: [{ 'anything-but': { contains: 'x' } }] }],
  ['anything-but numeric', { source: [{ 'anything-but': { numeric: ['>', 1] } }] }],
  ['anything-but empty prefix', { source: [{ 'anything-but': { prefix: '' } }] }],
  ['anything-but empty suffix in a list', { source: [{ 'anything-but': { suffix: ['.png', ''] } }] }],
  ['anything-but prefix number', { source: [{ 'anything-but': { prefix: 5 } }] }],
  [
    'anything-but prefix ignore-case (unsupported)',
    { source: [{ 'anything-but': { prefix: { 'equals-ignore-case': 'x' } } }] },
  ],
  ['anything-but two nested operators', { source: [{ 'anything-but': { prefix: 'a', suffix: 'b' } }] }],
  ['anything-but invalid wildcard', { source: [{ 'anything-but': { wildcard: ['ok*', 'a**'] } }] }],
  ['numeric is not an array', { n: [{ numeric: 5 }] }],
  ['numeric empty', { n: [{ numeric: [] }] }],
  ['numeric operator without value', { n: [{ numeric: ['>'] }] }],
  ['numeric value is a string', { n: [{ numeric: ['>', '5'] }] }],
  ['numeric unknown operator', { n: [{ numeric: ['!=', 5] }] }],
  ['numeric dangling second operator', { n: [{ numeric: ['>', 5, '<'] }] }],
  ['numeric upper bound first', { n: [{ numeric: ['<', 5, '>', 1] }] }],
  ['numeric two lower bounds', { n: [{ numeric: ['>', 1, '>=', 5] }] }],
  ['numeric = in a range', { n: [{ numeric: ['=', 5, '<', 10] }] }],
  ['numeric lower bound above upper bound', { n: [{ numeric: ['>', 10, '<', 5] }] }],
  ['numeric empty range', { n: [{ numeric: ['>=', 5, '<=', 5] }] }],
  ['numeric three comparisons', { n: [{ numeric: ['>', 0, '<', 5, '<', 6] }] }],
  ['cidr without prefix length', { ip: [{ cidr: '10.0.0.0' }] }],
  ['cidr v4 prefix too long', { ip: [{ cidr: '10.0.0.0/33' }] }],
  ['cidr v6 prefix too long', { ip: [{ cidr: '2001:db8::/129' }] }],
  ['cidr bad octet', { ip: [{ cidr: '10.0.0.256/24' }] }],
  ['cidr not an IP', { ip: [{ cidr: 'abc/8' }] }],
  ['cidr non-numeric prefix', { ip: [{ cidr: '10.0.0.0/x' }] }],
  ['cidr two slashes', { ip: [{ cidr: '10.0.0.0/24/1' }] }],
  ['cidr v6 with two ::', { ip: [{ cidr: '1::2::3/64' }] }],
  ['cidr is a number', { ip: [{ cidr: 10 }] }],
  ['$or is an object', { $or: { a: ['1'] } }],
  ['$or with one branch', { $or: [{ a: ['1'] }] }],
  ['$or with a non-object branch', { $or: [{ a: ['1'] }, ['b']] }],
  ['$or with an empty branch', { $or: [{ a: ['1'] }, {}] }],
  ['$or with an invalid branch', { $or: [{ a: ['1'] }, { b: 'x' }] }],
  ['$or with an operator name as field', { $or: [{ prefix: ['a'] }, { b: ['c'] }] }],
  ['invalid operator deep in detail', { detail: { a: { b: [{ numeric: ['>', 'x'] }] } } }],
  // Names an Object.prototype member, not a comparison (once accepted through an `in` check).
  ['numeric with an inherited name as operator', { detail: { f: [{ numeric: ['toString', 1] }] } }],
];

describe('invalid patterns', () => {
  it.each(INVALID_PATTERNS)('%s: validateEventPattern throws', (_name, pattern) => {
    expect(() => validateEventPattern(pattern)).toThrow(InvalidEventPatternError);
  });
  it.each(INVALID_PATTERNS)('%s: matchesEventPattern throws', (_name, pattern) => {
    expect(() => matchesEventPattern(pattern as EventPattern, envelope())).toThrow(InvalidEventPatternError);
  });

  it('reports the failing path and is a named Error', () => {
    const error = (() => {
      try {
        validateEventPattern({ detail: { a: { b: [{ numeric: ['>', 'x'] }] } } });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'InvalidEventPatternError' });
    expect((error as Error).message).toContain('detail.a.b');
  });
});

describe('validateEventPattern', () => {
  it('narrows unknown input to EventPattern', () => {
    const input: unknown = JSON.parse('{"source":["aws.ec2"]}');
    validateEventPattern(input);
    expect(matchesEventPattern(input, envelope())).toBe(true);
  });

  it('accepts operator names as field names outside $or', () => {
    expect(() => validateEventPattern({ detail: { prefix: ['a'], numeric: [1] } })).not.toThrow();
  });
});
