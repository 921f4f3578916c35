/// The OpenAPI 3.1 description of every endpoint, served at `GET /openapi.yaml`. Kept in the
/// binary (no resource lookup at run time); `OpenAPITests` holds it to the served routes and the
/// test script fuzzes a running server against it.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: Vigil
  version: 0.1.0
  description: >-
    Post-purchase ID and age verification. Order webhooks open a verification session; decision
    webhooks approve or decline it; timers remind and expire it; declines and expiries refund.
    Errors are RFC 9457 problem bodies. Every response carries X-Request-ID.
servers:
  - url: http://127.0.0.1:8080
tags:
  - name: webhooks
  - name: operations
  - name: admin
paths:
  /api/v1/post-purchase/webhook:
    post:
      tags: [webhooks]
      operationId: orderWebhook
      summary: Order events from the shop platform
      description: >-
        Two forms. The contract's JSON (OrderEvent), signed with X-Signature, the hex HMAC-SHA256 of
        the raw body under the Lightspeed secret; or Lightspeed eCom's own order webhook
        (LightspeedOrderWebhook), signed as Lightspeed signs it: X-Signature, the hex MD5 of the raw
        body followed by the secret. The first delivery of an order.created is checked against the
        age policy and opens a session (202); order.updated and order.cancelled (or Lightspeed's
        X-Event orders/updated with status cancelled) change it (202); a repeat is 200 idempotent;
        other event types are recorded and answered 200 ignored.
      parameters:
        - $ref: '#/components/parameters/RequestID'
        - name: X-Signature
          in: header
          required: false
          schema: {type: string}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              anyOf:
                - $ref: '#/components/schemas/OrderEvent'
                - $ref: '#/components/schemas/LightspeedOrderWebhook'
      responses:
        '200':
          description: A repeat delivery, or an event type that needs no action
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema:
                oneOf:
                  - $ref: '#/components/schemas/Idempotent'
                  - $ref: '#/components/schemas/Ignored'
        '202':
          description: The order's session (opened, or decided at once by the policy), or the session an update or a cancellation changed
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Session'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '415': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/veriff/webhook:
    post:
      tags: [webhooks]
      operationId: decisionWebhook
      summary: Decisions from the ID provider
      description: >-
        Signed with X-HMAC-SIGNATURE, VRF-HMAC-SIGNATURE or X-Signature: the hex HMAC-SHA256 of the
        raw body under the Veriff shared secret. Accepts Veriff's decision payload and the short form.
      parameters:
        - $ref: '#/components/parameters/RequestID'
        - {name: X-HMAC-SIGNATURE, in: header, required: false, schema: {type: string}}
        - {name: VRF-HMAC-SIGNATURE, in: header, required: false, schema: {type: string}}
        - {name: X-Signature, in: header, required: false, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              oneOf:
                - {$ref: '#/components/schemas/VeriffDecision'}
                - {$ref: '#/components/schemas/ShortDecision'}
      responses:
        '200':
          description: A repeat of an event already applied
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Idempotent'}
        '202':
          description: Applied, or recorded for review when the order is unknown
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Decision'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '415': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /healthz:
    get:
      tags: [operations]
      operationId: liveness
      summary: Cheap liveness for load balancers
      responses:
        '200':
          description: The process is up
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Liveness'}
  /health:
    get:
      tags: [operations]
      operationId: readiness
      summary: Readiness of the datastore and the task workers
      parameters:
        - name: check
          in: query
          required: false
          description: '`db` adds the datastore round-trip time'
          schema: {type: string}
      responses:
        '200': {$ref: '#/components/responses/Health'}
        '503': {$ref: '#/components/responses/Health'}
  /__selftest:
    get:
      tags: [operations]
      operationId: selftest
      summary: Subsystem matrix, dry-run checks only
      responses:
        '200': {$ref: '#/components/responses/SelfTest'}
        '503': {$ref: '#/components/responses/SelfTest'}
  /metrics:
    get:
      tags: [operations]
      operationId: metrics
      summary: Prometheus text format
      responses:
        '200':
          description: Metrics
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            text/plain:
              schema: {type: string}
  /openapi.yaml:
    get:
      tags: [operations]
      operationId: openapi
      summary: This document
      responses:
        '200':
          description: OpenAPI 3.1
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/yaml:
              schema: {type: string}
  /api/v1/orders:
    get:
      tags: [admin]
      operationId: listOrders
      summary: Orders newest first, by status and creation time, in pages
      security: [{adminToken: []}]
      parameters:
        - {name: status, in: query, required: false, schema: {$ref: '#/components/schemas/SessionState'}}
        - {name: since, in: query, required: false, description: Created at or after (RFC 3339, a date, or a duration ago), schema: {type: string}}
        - {name: until, in: query, required: false, description: Created before, schema: {type: string}}
        - {name: cursor, in: query, required: false, description: nextCursor of the previous page, schema: {type: string}}
        - $ref: '#/components/parameters/Limit'
      responses:
        '200':
          description: One page; nextCursor is present when there may be more
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/OrderPage'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/orders/{orderId}:
    get:
      tags: [admin]
      operationId: getOrder
      summary: An order's session, tasks, timeline and provider calls
      security: [{adminToken: []}]
      parameters:
        - {name: orderId, in: path, required: true, schema: {type: string}}
      responses:
        '200':
          description: The order
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/OrderView'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/orders/{orderId}/approve:
    post:
      tags: [admin]
      operationId: approveOrder
      summary: Approve by hand
      description: >-
        Releases the order, cancels its timers and emails the customer. Only a pending order can be acted on; anything else is refused with 409 and
        nothing changes. Audited with the token's id.
      security: [{adminToken: []}]
      parameters:
        - {name: orderId, in: path, required: true, schema: {type: string}}
        - $ref: '#/components/parameters/IdempotencyKey'
      responses:
        '200':
          description: The order after the action
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/OrderView'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/orders/{orderId}/decline:
    post:
      tags: [admin]
      operationId: declineOrder
      summary: Decline by hand
      description: >-
        Refunds, emails the customer and cancels the order at the shop, as for the ID provider's decline. Only a pending order can be acted on; anything else is refused with 409 and
        nothing changes. Audited with the token's id.
      security: [{adminToken: []}]
      parameters:
        - {name: orderId, in: path, required: true, schema: {type: string}}
        - $ref: '#/components/parameters/IdempotencyKey'
      responses:
        '200':
          description: The order after the action
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/OrderView'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/orders/{orderId}/resend:
    post:
      tags: [admin]
      operationId: resendLink
      summary: Send the verification link again
      description: >-
        Each call sends one more email. Only a pending order can be acted on; anything else is refused with 409 and
        nothing changes. Audited with the token's id.
      security: [{adminToken: []}]
      parameters:
        - {name: orderId, in: path, required: true, schema: {type: string}}
        - $ref: '#/components/parameters/IdempotencyKey'
      responses:
        '200':
          description: The order after the action
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/OrderView'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/orders/{orderId}/extend:
    post:
      tags: [admin]
      operationId: extendDeadline
      summary: Move the deadline later
      description: >-
        Later than the current deadline, in the future, at most 30 days ahead; the deadline timer moves with it. Only a pending order can be acted on; anything else is refused with 409 and
        nothing changes. Audited with the token's id.
      security: [{adminToken: []}]
      parameters:
        - {name: orderId, in: path, required: true, schema: {type: string}}
        - $ref: '#/components/parameters/IdempotencyKey'
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ExtendDeadline'}
      responses:
        '200':
          description: The order after the action
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/OrderView'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/orders/{orderId}/cancel:
    post:
      tags: [admin]
      operationId: cancelVerification
      summary: Cancel the verification without a refund
      description: >-
        For an order cancelled in the shop: timers and pending calls stop, nothing is refunded. Only a pending order can be acted on; anything else is refused with 409 and
        nothing changes. Audited with the token's id.
      security: [{adminToken: []}]
      parameters:
        - {name: orderId, in: path, required: true, schema: {type: string}}
        - $ref: '#/components/parameters/IdempotencyKey'
      responses:
        '200':
          description: The order after the action
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/OrderView'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/reviews/{id}/resolve:
    post:
      tags: [admin]
      operationId: resolveReview
      summary: Resolve a review item with a note of what was done
      security: [{adminToken: []}]
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer, minimum: 1, maximum: 9223372036854775807}}
        - $ref: '#/components/parameters/IdempotencyKey'
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ResolveReview'}
      responses:
        '200':
          description: The review, resolved
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Review'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/orders/{orderId}/erase:
    post:
      tags: [admin]
      operationId: eraseOrder
      summary: Erase a decided order's personal data
      description: >-
        Email, name, customer id, webhook payloads and provider requests go; the state, amounts, timeline and audit log stay. Idempotent; a pending order is refused with 409.
      security: [{adminToken: []}]
      parameters:
        - {name: orderId, in: path, required: true, schema: {type: string}}
        - $ref: '#/components/parameters/IdempotencyKey'
      responses:
        '200':
          description: Done
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Erasure'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/customers/erase:
    post:
      tags: [admin]
      operationId: eraseCustomer
      summary: Erase a customer's personal data, by email
      description: >-
        Every decided order of the customer (found by the email's keyed hash) is erased; pending ones are listed and left.
      security: [{adminToken: []}]
      parameters:
        - $ref: '#/components/parameters/IdempotencyKey'
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/CustomerRequest'}
      responses:
        '200':
          description: Done
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Erasure'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/customers/export:
    post:
      tags: [admin]
      operationId: exportCustomer
      summary: Everything held about a customer, by email
      description: >-
        Each of the customer's orders as GET /api/v1/orders/{orderId} gives it.
      security: [{adminToken: []}]
      parameters:
        - $ref: '#/components/parameters/IdempotencyKey'
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/CustomerRequest'}
      responses:
        '200':
          description: Done
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Export'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '413': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/tasks:
    get:
      tags: [admin]
      operationId: listTasks
      summary: Tasks, filtered by queue and state
      security: [{adminToken: []}]
      parameters:
        - {name: queue, in: query, required: false, schema: {type: string}}
        - {name: state, in: query, required: false, schema: {$ref: '#/components/schemas/TaskState'}}
        - $ref: '#/components/parameters/Limit'
      responses:
        '200':
          description: Tasks
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/TaskList'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/tasks/{id}/retry:
    post:
      tags: [admin]
      operationId: retryTask
      summary: Re-drive a dead task
      security: [{adminToken: []}]
      parameters:
        - $ref: '#/components/parameters/TaskID'
        - $ref: '#/components/parameters/IdempotencyKey'
      responses:
        '200':
          description: Re-driven
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/TaskRetried'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/tasks/{id}:
    delete:
      tags: [admin]
      operationId: cancelTask
      summary: Cancel a task (idempotent)
      security: [{adminToken: []}]
      parameters:
        - $ref: '#/components/parameters/TaskID'
        - $ref: '#/components/parameters/IdempotencyKey'
      responses:
        '200':
          description: Cancelled now, or had already finished
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/TaskCancelled'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '404': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/events:
    get:
      tags: [admin]
      operationId: exportEvents
      summary: The event log as NDJSON, streamed in id order
      description: >-
        One JSON object per line with stable fields, loadable into BigQuery as
        id INT64, orderId STRING, type STRING, at TIMESTAMP, data JSON.
      security: [{adminToken: []}]
      parameters:
        - name: since
          in: query
          required: false
          description: Events at or after this time (RFC 3339, a date, or a duration ago such as 24h)
          schema: {type: string}
        - name: until
          in: query
          required: false
          description: Events before this time
          schema: {type: string}
      responses:
        '200':
          description: NDJSON lines {"id","orderId","type","at","data"}
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/x-ndjson:
              schema: {type: string}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/reviews:
    get:
      tags: [admin]
      operationId: listReviews
      summary: Decisions waiting for manual review
      security: [{adminToken: []}]
      parameters:
        - $ref: '#/components/parameters/Limit'
      responses:
        '200':
          description: Open review items
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/ReviewList'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/audit:
    get:
      tags: [admin]
      operationId: listAudit
      summary: The audit log, newest first
      security: [{adminToken: []}]
      parameters:
        - $ref: '#/components/parameters/Limit'
      responses:
        '200':
          description: Audit rows
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/AuditList'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
  /api/v1/verified-customers:
    delete:
      tags: [admin]
      operationId: revokeVerifiedCustomer
      summary: Forget a customer verified of age, so their next order is checked again
      security: [{adminToken: []}]
      parameters:
        - {name: email, in: query, required: false, schema: {type: string, maxLength: 320}}
        - {name: customerId, in: query, required: false, schema: {type: string, maxLength: 200}}
        - $ref: '#/components/parameters/IdempotencyKey'
      responses:
        '200':
          description: How many remembered verifications ended
          headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Revoked'}
        '400': {$ref: '#/components/responses/Problem'}
        '401': {$ref: '#/components/responses/Problem'}
        '429': {$ref: '#/components/responses/Problem'}
        '409': {$ref: '#/components/responses/Problem'}
        '422': {$ref: '#/components/responses/Problem'}
        '503': {$ref: '#/components/responses/Problem'}
components:
  securitySchemes:
    adminToken:
      type: http
      scheme: bearer
      description: One of the tokens in VIGIL_ADMIN_TOKEN
  headers:
    RequestID:
      description: The caller's X-Request-ID when it is at most 128 plain characters, otherwise a new one
      schema: {type: string}
  parameters:
    RequestID:
      name: X-Request-ID
      in: header
      required: false
      schema: {type: string}
    IdempotencyKey:
      name: Idempotency-Key
      in: header
      required: false
      description: >-
        Runs the request at most once: a repeat gets the first answer replayed (with
        Idempotent-Replayed: true); a concurrent one 409; the key on a different request 422.
      schema: {type: string, minLength: 1, maxLength: 255}
    Limit:
      name: limit
      in: query
      required: false
      schema: {type: integer, minimum: 1, maximum: 1000, default: 100}
    TaskID:
      name: id
      in: path
      required: true
      schema: {type: integer, minimum: 1, maximum: 9223372036854775807}
  responses:
    Problem:
      description: An RFC 9457 problem
      headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
      content:
        application/problem+json:
          schema: {$ref: '#/components/schemas/Problem'}
    Health:
      description: Readiness
      headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
      content:
        application/json:
          schema: {$ref: '#/components/schemas/Readiness'}
    SelfTest:
      description: Subsystem matrix
      headers: {X-Request-ID: {$ref: '#/components/headers/RequestID'}}
      content:
        application/json:
          schema: {$ref: '#/components/schemas/SelfTest'}
  schemas:
    Problem:
      type: object
      additionalProperties: false
      required: [type, title, status, detail, requestId]
      properties:
        type: {type: string, description: 'urn:vigil:problem:<slug>'}
        title: {type: string}
        status: {type: integer}
        detail: {type: string}
        requestId: {type: string}
    SessionState:
      enum: [pending, approved, declined, expired, not_required, cancelled]
    OutcomeReason:
      enum: [declined, underage, document_expired, region_blocked, expired, verified, returning_customer, not_required, order_cancelled, approved_by_operator, declined_by_operator]
    RefundStatus:
      enum: [none, refund_pending, refunded, refund_failed]
    TaskState:
      enum: [scheduled, running, succeeded, retrying, dead, cancelled]
    OrderEvent:
      type: object
      required: [event, orderId, customerEmail, orderTotal]
      properties:
        event: {type: string, examples: [order.created]}
        orderId: {type: string}
        customerEmail: {type: string, format: email}
        orderTotal: {type: number}
        currency: {type: string}
        customerId: {type: string}
        customerName: {type: string}
        paymentId: {type: string, description: "The gateway's charge or transaction to refund"}
        lineItems:
          type: array
          description: What the policy's verification rules look at
          items:
            type: object
            properties:
              sku: {type: string}
              quantity: {type: integer}
              tags: {type: array, items: {type: string}}
              categories: {type: array, items: {type: string}}
        shippingAddress:
          type: object
          required: [country]
          properties:
            country: {type: string, description: ISO 3166-1 alpha-2}
            state: {type: string, description: The subdivision after the dash in ISO 3166-2 (CA in US-CA)}
        customerTags: {type: array, items: {type: string}}
        timestamp:
          type: [string, number]
          description: When the event was sent (RFC 3339 or seconds since 1970); older than VIGIL_WEBHOOK_MAX_AGE is refused as a replay
    LightspeedOrderWebhook:
      type: object
      description: Lightspeed eCom's order resource as its webhooks deliver it; it names no payment, so a live refund for such an order goes to manual review
      required: [order]
      properties:
        order:
          type: object
          required: [id, email, priceIncl]
          properties:
            id: {type: [integer, string]}
            email: {type: string, format: email}
            firstname: {type: string}
            lastname: {type: string}
            priceIncl: {type: number}
            currency: {type: string}
    VeriffDecision:
      type: object
      required: [verification]
      properties:
        status: {type: string}
        verification:
          type: object
          required: [id, status]
          properties:
            id: {type: string}
            status: {type: string, description: 'approved, declined, resubmission_requested, expired, abandoned or review; others are recorded without action'}
            code: {type: integer}
            vendorData: {type: string}
            reason: {type: [string, 'null']}
            decisionTime: {type: string, format: date-time}
            person:
              type: [object, 'null']
              properties:
                dateOfBirth: {type: [string, 'null'], description: YYYY-MM-DD; read to judge the age, never kept}
            document:
              type: [object, 'null']
              properties:
                validUntil: {type: [string, 'null'], description: YYYY-MM-DD; an expired document is declined}
    ShortDecision:
      type: object
      required: [event, id, status]
      properties:
        event: {type: string, examples: [verification.updated]}
        id: {type: string}
        status: {type: string}
        orderId: {type: string}
        timestamp: {type: [string, number], description: When the event was sent}
        dateOfBirth: {type: string, description: YYYY-MM-DD}
        documentValidUntil: {type: string, description: YYYY-MM-DD}
    Session:
      type: object
      additionalProperties: false
      required: [orderId, status, refundStatus, deadline, createdAt]
      properties:
        orderId: {type: string}
        status: {$ref: '#/components/schemas/SessionState'}
        refundStatus: {$ref: '#/components/schemas/RefundStatus'}
        deadline: {type: string, format: date-time}
        reminderAt: {type: string, format: date-time}
        createdAt: {type: string, format: date-time}
        decidedAt: {type: string, format: date-time}
        verificationUrl: {type: string}
        reason: {$ref: '#/components/schemas/OutcomeReason'}
        minimumAge: {type: integer, description: The policy's minimum age for this order}
        ageRule: {type: string, description: 'The rule it came from: default, or a region such as US-CA'}
        ofAge: {type: boolean, description: Whether the verified customer was of age}
        review: {type: string, description: Why a person must decide; the deadline does not expire the order meanwhile}
    Task:
      type: object
      additionalProperties: false
      required: [id, name, queue, kind, state, attempts, scheduledAt, createdAt, updatedAt]
      properties:
        id: {type: integer}
        name: {type: string}
        queue: {type: string}
        kind: {type: string}
        state: {$ref: '#/components/schemas/TaskState'}
        attempts: {type: integer}
        scheduledAt: {type: string, format: date-time}
        createdAt: {type: string, format: date-time}
        updatedAt: {type: string, format: date-time}
        firstAttemptAt: {type: string, format: date-time}
        orderId: {type: string}
        lastError: {type: string}
    OrderView:
      type: object
      additionalProperties: false
      required: [orderId, status, refundStatus, deadline, createdAt, customerEmail, tasks, timeline, outbox, attempts]
      properties:
        orderId: {type: string}
        status: {$ref: '#/components/schemas/SessionState'}
        refundStatus: {$ref: '#/components/schemas/RefundStatus'}
        deadline: {type: string, format: date-time}
        reminderAt: {type: string, format: date-time}
        createdAt: {type: string, format: date-time}
        decidedAt: {type: string, format: date-time}
        verificationUrl: {type: string}
        reason: {$ref: '#/components/schemas/OutcomeReason'}
        minimumAge: {type: integer}
        ageRule: {type: string}
        ofAge: {type: boolean}
        review: {type: string}
        region: {type: string}
        customerEmail: {type: string}
        verificationId: {type: string}
        tasks: {type: array, items: {$ref: '#/components/schemas/Task'}}
        timeline: {type: array, items: {$ref: '#/components/schemas/TimelineEntry'}}
        outbox: {type: array, items: {$ref: '#/components/schemas/OutboxEntry'}}
        attempts: {type: array, items: {$ref: '#/components/schemas/Attempt'}}
    Attempt:
      type: object
      additionalProperties: false
      description: >-
        One attempt at a task's provider call, recorded before the call is made. status unknown means
        the process making it ended before its answer was recorded: the provider may have acted.
      required: [taskId, kind, attempt, startedAt, status]
      properties:
        taskId: {type: integer}
        kind: {type: string, description: 'The call: open_session, send_email, refund, refund_payment or update_order'}
        attempt: {type: integer}
        owner: {type: string, description: The worker that made it}
        startedAt: {type: string, format: date-time}
        endedAt: {type: string, format: date-time}
        status: {enum: [in_flight, answered, failed, not_sent, unknown]}
        error: {type: string}
    TimelineEntry:
      type: object
      additionalProperties: false
      required: [id, type, at, data]
      properties:
        id: {type: integer}
        type: {type: string}
        at: {type: string, format: date-time}
        data: {}
    OutboxEntry:
      type: object
      additionalProperties: false
      required: [provider, operation, idempotencyKey, mode, at, request]
      properties:
        provider: {enum: [veriff, sendgrid, payments, lightspeed]}
        operation: {enum: [create_session, send_email, refund, update_order]}
        idempotencyKey: {type: string}
        mode: {enum: [sandbox, live]}
        at: {type: string, format: date-time}
        taskId: {type: integer}
        request: {}
        response: {}
    OrderPage:
      type: object
      additionalProperties: false
      required: [orders]
      properties:
        orders: {type: array, items: {$ref: '#/components/schemas/Session'}}
        nextCursor: {type: string, description: Present when there may be more; pass it as cursor}
    TaskList:
      type: object
      additionalProperties: false
      required: [tasks]
      properties:
        tasks: {type: array, items: {$ref: '#/components/schemas/Task'}}
    TaskRetried:
      type: object
      additionalProperties: false
      required: [retried]
      properties:
        retried: {type: boolean}
        task: {$ref: '#/components/schemas/Task'}
    TaskCancelled:
      type: object
      additionalProperties: false
      required: [cancelled]
      properties:
        cancelled: {type: boolean}
        task: {$ref: '#/components/schemas/Task'}
    Review:
      type: object
      additionalProperties: false
      required: [id, reason, createdAt]
      properties:
        id: {type: integer}
        orderId: {type: string}
        eventId: {type: string}
        reason: {type: string}
        createdAt: {type: string, format: date-time}
        resolvedAt: {type: string, format: date-time}
        resolvedBy: {type: string}
        note: {type: string}
    ExtendDeadline:
      type: object
      additionalProperties: false
      description: Exactly one of deadline (the new one) or by (how much later than the current one, such as 24h).
      minProperties: 1
      maxProperties: 1
      properties:
        deadline: {type: string, format: date-time}
        by: {type: string, pattern: '^[0-9]+(ms|s|m|h|d)$'}
    CustomerRequest:
      type: object
      additionalProperties: false
      required: [email]
      properties:
        email: {type: string, minLength: 3, maxLength: 320}
    Erasure:
      type: object
      additionalProperties: false
      required: [erased, alreadyErased, pending, notFound]
      properties:
        erased: {type: array, items: {type: string}}
        alreadyErased: {type: array, items: {type: string}}
        pending: {type: array, items: {type: string}}
        notFound: {type: array, items: {type: string}}
    Export:
      type: object
      additionalProperties: false
      required: [orders]
      properties:
        orders: {type: array, items: {$ref: '#/components/schemas/OrderView'}}
    ResolveReview:
      type: object
      additionalProperties: false
      required: [note]
      properties:
        note: {type: string, minLength: 1, maxLength: 2000}
    ReviewList:
      type: object
      additionalProperties: false
      required: [reviews]
      properties:
        reviews: {type: array, items: {$ref: '#/components/schemas/Review'}}
    Audit:
      type: object
      additionalProperties: false
      required: [id, at, actor, action, outcome]
      properties:
        id: {type: integer}
        at: {type: string, format: date-time}
        actor: {type: string, description: 'token:<12 hex digits>, anonymous or unknown-token'}
        action: {type: string}
        target: {type: string}
        outcome: {type: string}
        ip: {type: string}
        userAgent: {type: string}
        requestId: {type: string}
    AuditList:
      type: object
      additionalProperties: false
      required: [audit]
      properties:
        audit: {type: array, items: {$ref: '#/components/schemas/Audit'}}
    Idempotent:
      type: object
      additionalProperties: false
      required: [idempotent]
      properties:
        idempotent: {const: true}
        orderId: {type: string}
    Ignored:
      type: object
      additionalProperties: false
      required: [ignored, event, orderId]
      properties:
        ignored: {const: true}
        event: {type: string}
        orderId: {type: string}
    Decision:
      type: object
      additionalProperties: false
      required: [accepted]
      properties:
        accepted: {type: boolean}
        orderId: {type: string}
        status: {$ref: '#/components/schemas/SessionState'}
        event: {type: string}
        review: {type: boolean}
        detail: {type: string}
    Revoked:
      type: object
      additionalProperties: false
      required: [revoked]
      properties:
        revoked: {type: integer}
    Liveness:
      type: object
      additionalProperties: false
      required: [status, version, safeMode]
      properties:
        status: {const: ok}
        version: {type: string}
        safeMode: {type: boolean}
    Readiness:
      type: object
      additionalProperties: false
      required: [status, datastore, scheduler, version]
      properties:
        status: {enum: [ok, fail]}
        datastore: {enum: [ok, fail]}
        scheduler: {enum: [ok, fail]}
        version: {type: string}
        datastoreLatencyMs: {type: number}
    SelfTest:
      type: object
      additionalProperties: false
      required: [status, safeMode, veriff, sendgrid, payments, lightspeed, datastore, scheduler, details, warnings]
      properties:
        status: {enum: [ok, fail]}
        safeMode: {type: boolean}
        veriff: {enum: [ok, safe_mode, fail]}
        sendgrid: {enum: [ok, safe_mode, fail]}
        payments: {enum: [ok, safe_mode, fail]}
        lightspeed: {enum: [ok, safe_mode, fail]}
        datastore: {enum: [ok, fail]}
        scheduler: {enum: [ok, fail]}
        details: {type: object, additionalProperties: {type: string}}
        warnings: {type: array, items: {type: string}}
"""#
}
