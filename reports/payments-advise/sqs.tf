# dupsim advise: payments -> VisibilityTimeout 46 s, heartbeat every 45 s extending to 90 s, maxReceiveCount 3
resource "aws_sqs_queue" "queue" {
  # ... your other arguments ...
  visibility_timeout_seconds = 46
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.queue_dlq.arn
    maxReceiveCount     = 3
  })
}
# Worker heartbeat: while a message is being processed, every 45 s call
#   ChangeMessageVisibility(ReceiptHandle = <the message's handle>, VisibilityTimeout = 90)
# (CLI: aws sqs change-message-visibility --queue-url "$QUEUE_URL" --receipt-handle "$HANDLE" --visibility-timeout 90)
# and stop it before DeleteMessage.
