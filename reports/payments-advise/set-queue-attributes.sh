#!/bin/sh
# dupsim advise: payments -> VisibilityTimeout 46 s, heartbeat every 45 s extending to 90 s, maxReceiveCount 3
QUEUE_URL="https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE"   # your queue
DLQ_ARN="arn:aws:sqs:REGION:ACCOUNT:QUEUE-dlq"             # its dead-letter queue
aws sqs set-queue-attributes \
  --queue-url "$QUEUE_URL" \
  --attributes '{"VisibilityTimeout":"46","RedrivePolicy":"{\"deadLetterTargetArn\":\"'"$DLQ_ARN"'\",\"maxReceiveCount\":\"3\"}"}'
# Worker heartbeat: while a message is being processed, every 45 s call
#   ChangeMessageVisibility(ReceiptHandle = <the message's handle>, VisibilityTimeout = 90)
# (CLI: aws sqs change-message-visibility --queue-url "$QUEUE_URL" --receipt-handle "$HANDLE" --visibility-timeout 90)
# and stop it before DeleteMessage.
