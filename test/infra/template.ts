import { App } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { DataStack } from '../../infra/stacks/data-stack.js';
import { ServiceStack, type ServiceStackProps } from '../../infra/stacks/service-stack.js';

/** What the infra tests share: building the stacks and reading a synthesized template. */
export type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: string[] };

/** Both stacks; bundling is skipped (no esbuild in unit tests). */
export function build(props: Partial<ServiceStackProps> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const data = new DataStack(app, 'FenixData');
  const service = new ServiceStack(app, 'FenixService', { table: data.table, bus: data.bus, ...props });
  return { app, data, service };
}

export const resources = (template: Template) => template.toJSON().Resources as Record<string, Resource>;
export const ofType = (template: Template, type: string) =>
  Object.entries(resources(template)).filter(([, r]) => r.Type === type);
