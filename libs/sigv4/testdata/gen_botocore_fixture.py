# Regenerates the botocore fixture in sigv4_test.c (BOTO_*): python3 gen_botocore_fixture.py
import datetime
from unittest import mock
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

def sign(token):
    body = '{"TableName":"Music","Key":{"Artist":{"S":"No One You Know"},"SongTitle":{"S":"Call Me Today"}}}'
    req = AWSRequest(method='POST', url='http://localhost:8000/', data=body,
                     headers={'Content-Type': 'application/x-amz-json-1.0',
                              'X-Amz-Target': 'DynamoDB_20120810.GetItem',
                              'User-Agent': 'Boto3/1.34.0 Python/3.11.6 Linux/6.5.0 Botocore/1.34.0'})
    creds = Credentials('AKIADYNETESTKEY00001', 'dyne/Secret+Key0123456789abcdefghijklmnopq', token)
    fixed = datetime.datetime(2024, 1, 15, 10, 20, 30)
    with mock.patch('botocore.auth.get_current_datetime', return_value=fixed):
        SigV4Auth(creds, 'dynamodb', 'us-west-2').add_auth(req)
    p = req.prepare()
    print(body)
    for k, v in p.headers.items():
        print(repr(k), repr(v))
    print(p.url)

sign(None)
sign('FwoGZXIvYXdzEJr//////////wEaDDyneSessionTokenExample==')
